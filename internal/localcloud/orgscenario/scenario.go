package orgscenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cycle"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/org"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// MemberStack is the member template's stack name in each account.
const MemberStack = "rotation-audit-member"

// Job is scenario E: the hub and member templates, and how to build the
// function.
type Job struct {
	Hub, Member         *cfn.Template
	HubPath, MemberPath string // as the report names them
	Stack               string
	Builder             *bootstrap.Builder
	Out                 io.Writer // the report
	Logs                io.Writer // function and cloud output; nil discards it
}

func (j *Job) printf(format string, args ...any) { fmt.Fprintf(j.Out, format, args...) }

// Run is scenario E on a fresh embedded cloud of three accounts and two
// regions. It returns the run's outcome; an error says which check failed.
// Whatever fails, it tears the stacks down and stops the cloud.
func (j *Job) Run(ctx context.Context) (o Outcome, err error) {
	start := time.Now()
	ids, err := accounts.ParseAccounts("3")
	if err != nil {
		return o, err
	}
	cloud, err := localcloud.Start(localcloud.Options{Region: Regions[0], Accounts: ids, Regions: Regions, Logs: j.Logs})
	if err != nil {
		return o, err
	}
	defer cloud.Close()
	j.printf("start     kumo at %s: organization o-localcloud of %s (management, the hub) and members %s, regions %s%s\n",
		cloud.URL, ids[0], strings.Join(ids[1:], ", "), strings.Join(Regions, ", "), cycle.Took(time.Since(start)))

	t := time.Now()
	hub := &deploy.Deployer{Clients: deploy.NewClients(cloud.URL, Regions[0]), Stack: j.Stack, Code: j.Builder.Code(true),
		Params: map[string]string{"Accounts": org.Organization, "Regions": strings.Join(Regions, ","), "SeedTestSecrets": "false",
			"SecurityHubFindings": "true"},
		Logs: io.Discard, Embedded: true}
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		t := time.Now()
		_, terr := cycle.Teardown(cleanup, hub, j.Hub, j.Out)
		err = errors.Join(err, terr)
		j.printf("teardown  %s and the member stacks%s\n", j.Stack, cycle.Took(time.Since(t)))
	}()
	stack, err := hub.Deploy(ctx, j.Hub)
	if err != nil {
		return o, err
	}
	j.printf("deploy    %s -param Accounts=ORGANIZATION -param Regions=%s -param SecurityHubFindings=true into %s: %s%s\n", j.HubPath, strings.Join(Regions, ","), ids[0],
		cycle.Deployed(stack), cycle.Took(time.Since(t)))

	t = time.Now()
	members := ids[1:]
	for _, acct := range members {
		m := &deploy.Deployer{Clients: deploy.NewAccountClients(cloud.URL, Regions[0], acct), Stack: MemberStack, Logs: io.Discard, Embedded: true,
			Params: map[string]string{"HubAccountId": ids[0], "HubWorkerRoleName": stack.Outputs["WorkerRoleName"], "OrganizationId": "o-localcloud"}}
		if _, err := m.Deploy(ctx, j.Member); err != nil {
			return o, fmt.Errorf("member %s: %w", acct, err)
		}
		defer func() {
			_, terr := cycle.Teardown(cleanup, m, j.Member, j.Out)
			err = errors.Join(err, terr)
		}()
	}
	j.printf("deploy    %s into %s (HubWorkerRoleName %s); none into %s%s\n", j.MemberPath, strings.Join(members, " and "),
		stack.Outputs["WorkerRoleName"], ids[0], cycle.Took(time.Since(t)))

	t = time.Now()
	secrets := Population([3]string{ids[0], ids[1], ids[2]}, "")
	if err := CreateSecrets(ctx, func(acct, region string) aws.Config { return as(cloud.URL, acct, region) }, secrets); err != nil {
		return o, err
	}
	// Forty days on, one secret is rotated: the others' values are too old.
	if _, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "40d", SkipFires: true}); err != nil {
		return o, err
	}
	if _, err := secretsmanager.NewFromConfig(as(cloud.URL, ids[2], Regions[1])).RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("cache")}); err != nil {
		return o, fmt.Errorf("rotate cache: %w", err)
	}
	j.printf("secrets   %d in 3 accounts and 2 regions (db in %s and %s, shared-key replicated to %s); 40 days later, cache rotated%s\n",
		len(secrets), ids[1], ids[2], Regions[1], cycle.Took(time.Since(t)))

	t = time.Now()
	moved, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "1h"})
	if err != nil {
		return o, err
	}
	j.printf("E  the clock moves an hour: the schedule fires the coordinator, the queue's mapping runs the workers (%d fire)%s\n", moved.Fired, cycle.Took(time.Since(t)))
	db := dynamodb.NewFromConfig(as(cloud.URL, ids[0], Regions[0]))
	h := Hub{Runs: stack.Outputs["RunsTableName"], Units: stack.Outputs["UnitsTableName"], Rows: stack.Outputs["OrgAuditTableName"]}
	runID, err := latestRun(ctx, db, h.Runs)
	if err != nil {
		return o, err
	}
	if o, err = ReadOutcome(ctx, db, h, runID); err != nil {
		return o, err
	}
	j.printOutcome(o)
	if problems := Check(o, secrets, ids, ids[:1]); len(problems) > 0 {
		for _, p := range problems {
			j.printf("   FAIL  %s\n", p)
		}
		return o, fmt.Errorf("scenario E failed: %s", strings.Join(problems, "; "))
	}
	j.printf("   PASS  %d units complete: %d rows (db twice, the replica once), %s not reporting (AccessDenied), flagged %d\n",
		o.Entry.UnitsDone, len(o.Rows), ids[0], o.Entry.Flagged)

	// The workers imported every unit's findings into the hub account's
	// Security Hub, as the hub: the member role may only read secrets.
	if o.Findings, err = HubFindings(ctx, cloud.URL, ids[0]); err != nil {
		return o, err
	}
	for _, f := range o.Findings {
		j.printf("     finding %s %-8s %s\n", aws.ToString(f.AwsAccountId), f.Compliance.Status, aws.ToString(f.Resources[0].Id))
	}
	if problems := CheckFindings(o.Findings, o, ids[0], ids[:1]); len(problems) > 0 {
		for _, p := range problems {
			j.printf("   FAIL  %s\n", p)
		}
		return o, fmt.Errorf("scenario E's Security Hub findings failed: %s", strings.Join(problems, "; "))
	}
	j.printf("   PASS  Security Hub of %s (the hub) in %s: %d findings imported as the hub, one per row (db twice), none for %s\n",
		ids[0], Regions[0], len(o.Findings), ids[0])

	// The same answer through the read side, as rotation-audit report
	// -all reads it: the run's entry says it is an organization run.
	t = time.Now()
	r, err := Answer(ctx, db, h, j.Stack, runID)
	if err != nil {
		return o, fmt.Errorf("report: %w", err)
	}
	j.printf("report    rotation-audit report -all -run %s, through package report%s\n", runID, cycle.Took(time.Since(t)))
	if err := report.WriteReport(linewriter.Prefixed(j.Out, "     "), r, report.Table); err != nil {
		return o, err
	}
	if problems := CheckAnswer(r, secrets, ids[:1]); len(problems) > 0 {
		for _, p := range problems {
			j.printf("   FAIL  %s\n", p)
		}
		return o, fmt.Errorf("scenario E's report failed: %s", strings.Join(problems, "; "))
	}
	j.printf("   PASS  the report: db twice with its account, the replica once, %s not reporting (AccessDenied)\n", ids[0])

	// And through the dashboard, as a person clicks through it.
	t = time.Now()
	problems := CheckDashboard(Dashboard(db, h, j.Stack, cloud.Scheduler().Clock().Now), secrets, ids[:1])
	j.printf("dashboard rotation-audit dashboard: the organization's page, then %s's and %s's pages and their secrets' pages%s\n",
		ids[1], ids[2], cycle.Took(time.Since(t)))
	if len(problems) > 0 {
		for _, p := range problems {
			j.printf("   FAIL  %s\n", p)
		}
		return o, fmt.Errorf("scenario E's dashboard failed: %s", strings.Join(problems, "; "))
	}
	j.printf("   PASS  the dashboard: every account, %s not reporting (AccessDenied); db on both accounts' pages, two secrets by ARN; the replica once\n", ids[0])
	return o, nil
}

func (j *Job) printOutcome(o Outcome) {
	e := o.Entry
	j.printf("     run %s: complete %v, units %d/%d (failed %d), checked %d, flagged %d, replicas %d\n",
		o.RunID, e.Complete, e.UnitsDone, e.UnitsExpected, e.UnitsFailed, e.Checked, e.Flagged, e.Replicas)
	for _, u := range o.Units {
		why := ""
		if u.Error != "" {
			why = "  " + reason(u.Error)
		}
		j.printf("     unit %-24s %-7s checked %d%s\n", u.Unit, u.State, u.Checked, why)
	}
	for _, r := range o.Rows {
		j.printf("     row  %s %-10s %-11s %-15s %s\n", r.AccountID, r.Region, r.SecretName, r.Status, r.SecretARN)
	}
}

// latestRun is the newest complete run: one Query on the sparse index.
func latestRun(ctx context.Context, db *dynamodb.Client, runs string) (string, error) {
	out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &runs, IndexName: aws.String(tables.CompleteIndex),
		KeyConditionExpression:    aws.String("complete_key = :c"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":c": &dbtypes.AttributeValueMemberS{Value: tables.CompleteValue}},
		ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(1)})
	if err != nil {
		return "", fmt.Errorf("latest complete run: %w", err)
	}
	if len(out.Items) == 0 {
		return "", errors.New("no complete run: the organization run did not complete")
	}
	id, _ := out.Items[0][tables.RunID].(*dbtypes.AttributeValueMemberS)
	return id.Value, nil
}

// as is an SDK configuration acting as an account (a 12-digit access key
// ID, the embedded cloud's convention) in a region.
func as(endpoint, account, region string) aws.Config {
	return aws.Config{Region: region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(account, "test", "")}
}

// reason is an error's last words: the service's own, after the SDK's
// "api error", when there are any.
func reason(s string) string {
	if _, after, ok := strings.Cut(s, "api error "); ok {
		s = after
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// Logs is where function output goes in the report: indented.
func Logs(out io.Writer) io.Writer { return linewriter.Prefixed(out, "     ") }
