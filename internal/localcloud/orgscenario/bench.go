package orgscenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/latency"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/memstat"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
	"github.com/rotation-audit/rotation-audit/internal/org"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// BenchRegions are the regions of bench-org, in order; -regions N takes
// the first N.
var BenchRegions = []string{"us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1", "eu-central-1", "ap-northeast-1"}

// Bench is bench-org: an organization of Accounts accounts (the hub's
// included), Regions regions and Secrets secrets per account and region,
// audited in one run with Latency added to every call the function makes.
type Bench struct {
	Job
	Accounts, Regions, Secrets, Concurrency int
	Latency                                 time.Duration
	Progress                                io.Writer
}

// BenchResult is what one organization run measured. The coordinator and
// the workers are timed apart: between them the function process is
// restarted, so each one's peak memory is its own.
type BenchResult struct {
	Units                         int
	Coordinator, Workers          time.Duration
	CoordinatorCalls, WorkerCalls map[string]int
	CoordinatorKB, WorkerKB       int
	Entry                         RunEntry
}

// Run sets the organization up on a fresh embedded cloud, then times one
// run: the coordinator (the schedule's event, the units queue's mapping
// disabled) and then the workers (the mapping enabled, on the cloud
// clock), each behind the latency proxy.
func (b *Bench) Run(ctx context.Context) (BenchResult, error) {
	var r BenchResult
	ids, err := accounts.ParseAccounts(strconv.Itoa(b.Accounts))
	if err != nil {
		return r, err
	}
	regions := BenchRegions[:b.Regions]
	cloud, err := localcloud.Start(localcloud.Options{Region: regions[0], Accounts: ids, Regions: regions, Logs: b.Logs})
	if err != nil {
		return r, err
	}
	defer cloud.Close()
	front, err := url.Parse(cloud.URL)
	if err != nil {
		return r, err
	}
	proxy := latency.To(front, b.Latency)
	srv := httptest.NewServer(proxy)
	defer srv.Close()

	t := time.Now()
	hub := &deploy.Deployer{Clients: deploy.NewClients(cloud.URL, regions[0]), Stack: b.Stack, Code: b.Builder.Code(true), Logs: io.Discard, Embedded: true,
		Params: map[string]string{"Accounts": org.Organization, "Regions": strings.Join(regions, ","), "SeedTestSecrets": "false",
			"WorkerConcurrency": strconv.Itoa(b.Concurrency)}}
	stack, err := hub.Deploy(ctx, b.Hub)
	if err != nil {
		return r, err
	}
	if err := b.setUp(ctx, cloud.URL, ids, regions, stack.Outputs["WorkerRoleName"]); err != nil {
		return r, err
	}
	fmt.Fprintf(b.Progress, "set up %d accounts x %d regions x %d secrets in %s\n", len(ids), len(regions), b.Secrets, time.Since(t).Round(time.Second))

	l := hub.Clients.Lambda
	fn := stack.Outputs["FunctionName"]
	mapping, err := l.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: &fn})
	if err != nil || len(mapping.EventSourceMappings) != 1 {
		return r, fmt.Errorf("the units mapping: %v", err)
	}
	uuid := mapping.EventSourceMappings[0].UUID
	if _, err := l.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: uuid, Enabled: aws.Bool(false)}); err != nil {
		return r, err
	}
	if err := b.behind(ctx, l, fn, srv.URL); err != nil {
		return r, err
	}
	s, err := scenario.FromOutputs(stack.Outputs)
	if err != nil {
		return r, err
	}
	sched, err := scenario.ScheduleConfig(ctx, hub.Clients.Scheduler, s)
	if err != nil {
		return r, err
	}

	proxy.Reset()
	fire := time.Now()
	inv, err := scenario.InvokeAsScheduler(ctx, l, sched, cloud.Scheduler().Clock().Now())
	r.Coordinator = time.Since(fire)
	if err != nil {
		return r, err
	}
	r.CoordinatorCalls = proxy.Reset()
	if pid, ok := cloud.FunctionPID(fn); ok {
		r.CoordinatorKB = memstat.PeakRSS(pid)
	}
	fmt.Fprintf(b.Progress, "coordinator: run %s planned and sent in %s\n", inv.Result.RunID, r.Coordinator.Round(time.Millisecond))

	// A fresh process for the workers, so their peak memory is theirs.
	if err := b.behind(ctx, l, fn, srv.URL); err != nil {
		return r, err
	}
	proxy.Reset()
	work := time.Now()
	if _, err := l.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: uuid, Enabled: aws.Bool(true)}); err != nil {
		return r, err
	}
	// Each move runs the mapping's polls that fall due in it, on the
	// cloud clock: a poll takes MaximumConcurrency batches, and the next
	// one is due when the last ends, so the clock moves a second at a time
	// until the run completes.
	db := hub.Clients.DynamoDB
	h := Hub{Runs: stack.Outputs["RunsTableName"], Units: stack.Outputs["UnitsTableName"], Rows: stack.Outputs["OrgAuditTableName"]}
	for {
		if _, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "1s"}); err != nil {
			return r, err
		}
		done, err := complete(ctx, db, h.Runs, inv.Result.RunID)
		if err != nil {
			return r, err
		}
		if done {
			break
		}
	}
	r.Workers = time.Since(work)
	r.WorkerCalls = proxy.Reset()
	if pid, ok := cloud.FunctionPID(fn); ok {
		r.WorkerKB = memstat.PeakRSS(pid)
	}
	o, err := ReadOutcome(ctx, db, h, inv.Result.RunID)
	if err != nil {
		return r, err
	}
	r.Entry, r.Units = o.Entry, len(o.Units)
	want := len(ids) * len(regions) * b.Secrets
	if !o.Entry.Complete || o.Entry.UnitsFailed != 0 || o.Entry.Checked != want {
		e, _ := json.Marshal(o.Entry)
		return r, fmt.Errorf("the run did not complete with every secret (want %d checked): %s", want, e)
	}
	return r, nil
}

// complete reports whether a run is complete.
func complete(ctx context.Context, db *dynamodb.Client, runs, runID string) (bool, error) {
	at, err := tables.ParseRunID(runID)
	if err != nil {
		return false, err
	}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &runs, ConsistentRead: aws.Bool(true), Key: map[string]dbtypes.AttributeValue{
		tables.Month: &dbtypes.AttributeValueMemberS{Value: tables.MonthOf(at)},
		tables.RunID: &dbtypes.AttributeValueMemberS{Value: runID},
	}})
	if err != nil {
		return false, fmt.Errorf("read run %s: %w", runID, err)
	}
	_, done := got.Item[tables.CompleteKey]
	return done, nil
}

// behind points the function at the latency proxy (restarting its
// process) with the longest timeout.
func (b *Bench) behind(ctx context.Context, l *lambda.Client, fn, proxyURL string) error {
	cfg, err := l.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: &fn})
	if err != nil {
		return err
	}
	vars := cfg.Environment.Variables
	vars["AWS_ENDPOINT_URL"] = proxyURL
	vars["BENCH_RESTART"] = strconv.FormatInt(time.Now().UnixNano(), 10) // a new configuration, so a new process
	_, err = l.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: &fn, Environment: &ltypes.Environment{Variables: vars}, Timeout: aws.Int32(900)})
	return err
}

// setUp deploys the member template into every account and creates the
// secrets, a few accounts at a time.
func (b *Bench) setUp(ctx context.Context, endpoint string, ids, regions []string, workerRole string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	var mu sync.Mutex
	done := 0
	for _, acct := range ids {
		g.Go(func() error {
			m := &deploy.Deployer{Clients: deploy.NewAccountClients(endpoint, regions[0], acct), Stack: MemberStack, Logs: io.Discard, Embedded: true,
				Params: map[string]string{"HubAccountId": ids[0], "HubWorkerRoleName": workerRole, "OrganizationId": "o-localcloud"}}
			if _, err := m.Deploy(gctx, b.Member); err != nil {
				return fmt.Errorf("member %s: %w", acct, err)
			}
			for _, region := range regions {
				sm := secretsmanager.NewFromConfig(as(endpoint, acct, region))
				for i := range b.Secrets {
					if _, err := sm.CreateSecret(gctx, &secretsmanager.CreateSecretInput{
						Name: aws.String(fmt.Sprintf("bench-%03d", i)), SecretString: aws.String("v"),
						Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}},
					}); err != nil {
						return fmt.Errorf("create a secret in %s/%s: %w", acct, region, err)
					}
				}
			}
			mu.Lock()
			done++
			if done%100 == 0 {
				fmt.Fprintf(b.Progress, "  %d accounts ready\n", done)
			}
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// Report writes the bench's table.
func (r BenchResult) Report(w io.Writer, b *Bench) error {
	total := r.Coordinator + r.Workers
	fmt.Fprintf(w, "bench-org: %d accounts x %d regions x %d secrets = %d units, %d secrets; %s added to every call; MaximumConcurrency %d\n",
		b.Accounts, b.Regions, b.Secrets, r.Units, r.Entry.Checked, b.Latency, b.Concurrency)
	fmt.Fprintf(w, "fire to complete run: %s (coordinator %s, workers %s); %.1f units/s; the run entry says %d ms\n",
		total.Round(time.Millisecond), r.Coordinator.Round(time.Millisecond), r.Workers.Round(time.Millisecond),
		float64(r.Units)/r.Workers.Seconds(), r.Entry.DurationMS)
	fmt.Fprintf(w, "peak RSS: coordinator %.1f MB, worker process %.1f MB\n", float64(r.CoordinatorKB)/1024, float64(r.WorkerKB)/1024)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "call\tcoordinator\tworkers\tper unit\t")
	ops := map[string]bool{}
	for op := range maps.Keys(r.CoordinatorCalls) {
		ops[op] = true
	}
	for op := range maps.Keys(r.WorkerCalls) {
		ops[op] = true
	}
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t\n", op, r.CoordinatorCalls[op], r.WorkerCalls[op], float64(r.WorkerCalls[op])/float64(max(r.Units, 1)))
	}
	return tw.Flush()
}
