package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedulertypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// source is where a command reads: the stack's tables, through the SDK's
// default configuration or a local endpoint.
type source struct {
	stack, table, runsTable string
	unitsTable              string
	endpoint, region        string
	schedule, scheduleZone  string
	scheduleName            string
	functionTimeout         time.Duration
}

func (s *source) register(fs *flag.FlagSet) {
	fs.StringVar(&s.stack, "stack", "rotcheck", "the stack: its tables are <stack>-audit and <stack>-runs")
	fs.StringVar(&s.table, "table", "", "the audit table (default <stack>-audit, or <stack>-org-audit for an organization run)")
	fs.StringVar(&s.runsTable, "runs-table", "", "the run log table (default <stack>-runs)")
	fs.StringVar(&s.unitsTable, "units-table", "", "an organization hub's units table (default <stack>-units)")
	fs.StringVar(&s.endpoint, "endpoint-url", os.Getenv("AWS_ENDPOINT_URL"), "a local endpoint such as http://localhost:4566 (env AWS_ENDPOINT_URL); empty for AWS")
	fs.StringVar(&s.region, "region", "", "AWS region (default from your configuration)")
}

// registerSchedule adds the flags of the commands that compare runs with
// the schedule.
func (s *source) registerSchedule(fs *flag.FlagSet) {
	fs.StringVar(&s.schedule, "schedule", "", "the schedule's expression, for the runs expected (default: read from EventBridge Scheduler)")
	fs.StringVar(&s.scheduleZone, "schedule-timezone", "UTC", "the time zone of -schedule")
	fs.StringVar(&s.scheduleName, "schedule-name", "", "the schedule to read (default <stack>-hourly)")
	fs.DurationVar(&s.functionTimeout, "function-timeout", report.DefaultTimeout,
		"the function's timeout (template.yaml's Timeout): a fire younger than it, plus the schedule's flexible window, is pending, not missing")
}

// open loads the AWS configuration and returns the store of the stack's
// tables, and the configuration for other clients.
func (s *source) open(ctx context.Context) (*report.Store, aws.Config, error) {
	// The SDK logs warnings (such as "falling back to IMDSv1" while it
	// looks for credentials) to stderr ahead of our own line: say only
	// what the user can act on, once.
	opts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{}), config.WithClientLogMode(0)}
	if s.endpoint != "" {
		if u, err := url.Parse(s.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, aws.Config{}, fmt.Errorf("-endpoint-url %q is not a URL such as http://localhost:4566 (it may come from AWS_ENDPOINT_URL): %w", s.endpoint, errUsage)
		}
	}
	if s.region != "" {
		opts = append(opts, config.WithRegion(s.region))
	}
	if s.endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(s.endpoint))
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			// A local endpoint takes any credentials; looking for real
			// ones (the instance metadata service) only costs time.
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, cfg, fmt.Errorf("AWS configuration: %v: %w", shortError(err), errUsage)
	}
	if cfg.Region == "" {
		if s.endpoint == "" {
			return nil, cfg, fmt.Errorf("no AWS region: set AWS_REGION, a profile's region, or -region: %w", errUsage)
		}
		cfg.Region = "us-east-1" // a local endpoint answers in any region
	}
	if err := s.credentials(ctx, &cfg); err != nil {
		return nil, cfg, err
	}
	// The run read says the mode (report.Store.ForRun): the organization
	// tables are only named here, and read only for an organization run.
	store := &report.Store{Table: cmp.Or(s.table, tables.AuditTable(s.stack)), RunsTable: cmp.Or(s.runsTable, tables.RunsTable(s.stack)),
		OrgTable: cmp.Or(s.table, tables.OrgAuditTable(s.stack)), UnitsTable: cmp.Or(s.unitsTable, tables.UnitsTable(s.stack))}
	store.DB = dynamodb.NewFromConfig(cfg)
	return store, cfg, nil
}

// accountFlag registers -account.
func accountFlag(fs *flag.FlagSet) *string {
	return fs.String("account", "", "an organization hub's: only this account (12 digits)")
}

// checkAccount checks -account as given, before any call: a mistake is
// one line and exit status 2.
func checkAccount(account string) error {
	if account == "" {
		return nil
	}
	if err := report.ValidAccount(account); err != nil {
		return fmt.Errorf("-account: %w: %w", err, errUsage)
	}
	return nil
}

// credentials checks that there are credentials before the first call, so
// their absence is one clear line. A local endpoint takes any, so there
// "test" stands in when none are configured.
func (s *source) credentials(ctx context.Context, cfg *aws.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if cfg.Credentials != nil {
		if _, err := cfg.Credentials.Retrieve(ctx); err == nil {
			return nil
		} else if s.endpoint == "" {
			// The SDK's error lists every place it looked (the instance
			// metadata service last); none of it helps more than this.
			return fmt.Errorf("no AWS credentials found (set AWS_PROFILE, run aws sso login, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): %w", errUsage)
		}
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider("test", "test", "")
	return nil
}

// now is the time to judge "how long ago" against: the embedded cloud's
// own clock when the endpoint is one (its time may be months ahead), else
// this machine's.
func (s *source) now(ctx context.Context) func() time.Time {
	if s.endpoint == "" {
		return time.Now
	}
	if _, ok := clockapi.Probe(ctx, s.endpoint); !ok {
		return time.Now
	}
	return func() time.Time {
		state, err := clockapi.ReadClock(context.Background(), s.endpoint)
		if err != nil {
			return time.Now()
		}
		return state.Now
	}
}

// scheduleOf is the schedule the runs are compared with: -schedule, else
// the deployed schedule's, read from EventBridge Scheduler with its
// creation date and flexible window; when it cannot be read, rate(1 hour),
// with a note on stderr. The function's timeout is -function-timeout:
// reading it from Lambda would need one more permission of every reader.
func (s *source) scheduleOf(ctx context.Context, cfg aws.Config, stderr io.Writer) report.Schedule {
	if s.schedule != "" {
		return report.Schedule{Expression: s.schedule, Timezone: s.scheduleZone, Timeout: s.functionTimeout}
	}
	name := s.scheduleName
	if name == "" {
		name = s.stack + "-hourly"
	}
	out, err := scheduler.NewFromConfig(cfg).GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name)})
	if err != nil {
		fmt.Fprintf(stderr, "rotation-audit: could not read the schedule %s (%v); assuming rate(1 hour): pass -schedule to say otherwise\n", name, shortError(err))
		return report.Schedule{Expression: "rate(1 hour)", Timezone: "UTC", Timeout: s.functionTimeout}
	}
	return scheduleFrom(out, s.functionTimeout)
}

// scheduleFrom reads what the history needs from a GetSchedule answer: a
// missing CreationDate stays zero, and the control then starts at its
// first complete run.
func scheduleFrom(out *scheduler.GetScheduleOutput, timeout time.Duration) report.Schedule {
	sched := report.Schedule{Expression: aws.ToString(out.ScheduleExpression), Timezone: aws.ToString(out.ScheduleExpressionTimezone),
		CreationDate: aws.ToTime(out.CreationDate).UTC(), Timeout: timeout}
	if w := out.FlexibleTimeWindow; w != nil && w.Mode == schedulertypes.FlexibleTimeWindowModeFlexible {
		sched.FlexibleWindow = time.Duration(aws.ToInt32(w.MaximumWindowInMinutes)) * time.Minute
	}
	return sched
}

// readError turns what a user can fix into one clear line and exit status 2.
func (s *source) readError(err error) error {
	return s.tableError(err, "", "")
}

// tableError is readError for a read of one table, the run log or the
// audit table (kind): a table of the wrong kind (-table rotcheck-runs)
// fails the Query's key schema or index, and the line names it. The
// credentials refused is the user's to fix too; other refusals keep the
// service's code and message, without the request's details.
func (s *source) tableError(err error, table, kind string) error {
	var netErr *net.OpError
	var apiErr smithy.APIError
	errors.As(err, &apiErr)
	switch {
	case errors.Is(err, report.ErrNoTable), errors.Is(err, report.ErrNoRuns), errors.Is(err, report.ErrNoSuchRun), errors.Is(err, report.ErrNotStarted):
		return fmt.Errorf("%w: %w", err, errUsage)
	case apiErr != nil && apiErr.ErrorCode() == "ValidationException":
		what := "a table"
		if table != "" {
			what = fmt.Sprintf("%s is not the %s table of a rotation-check stack: it", table, kind)
		}
		return fmt.Errorf("%s does not have the keys or index rotation-audit reads (%s); check -stack, -table and -runs-table: %w",
			what, apiErr.ErrorMessage(), errUsage)
	case apiErr != nil && credentialsRefused[apiErr.ErrorCode()]:
		return fmt.Errorf("AWS refused these credentials (%s: %s): refresh them (aws sso login) or use a profile allowed to read the tables: %w",
			apiErr.ErrorCode(), apiErr.ErrorMessage(), errUsage)
	case apiErr != nil && table != "":
		return fmt.Errorf("DynamoDB refused the read of %s (%s: %s)", table, apiErr.ErrorCode(), apiErr.ErrorMessage())
	case apiErr != nil:
		return fmt.Errorf("DynamoDB refused a read (%s: %s)", apiErr.ErrorCode(), apiErr.ErrorMessage())
	case errors.As(err, &netErr):
		where := "AWS"
		if s.endpoint != "" {
			where = s.endpoint
		}
		return fmt.Errorf("cannot reach %s (is it running? make local-up starts the embedded cloud): %v: %w", where, netErr.Err, errUsage)
	}
	return err
}

// credentialsRefused are the error codes of credentials AWS does not
// accept: expired, unknown, or without the permission.
var credentialsRefused = map[string]bool{
	"ExpiredTokenException": true, "ExpiredToken": true, "UnrecognizedClientException": true,
	"InvalidSignatureException": true, "AccessDeniedException": true,
}

// shortError is an SDK error without its request details.
func shortError(err error) string {
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return netErr.Err.Error()
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	return msg
}
