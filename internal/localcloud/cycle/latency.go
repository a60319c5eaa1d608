package cycle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/latency"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/memstat"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
)

// The operations a run at latency is judged by, as the proxy names them.
const (
	OpListSecrets  = "secretsmanager.ListSecrets"
	OpBatchWrite   = "DynamoDB_20120810.BatchWriteItem"
	OpListVersions = "secretsmanager.ListSecretVersionIds"
	OpQuery        = "DynamoDB_20120810.Query"
)

// pageSize is how many secrets a ListSecrets page holds at most.
const pageSize = 100

// BenchLatency is the bench-latency command: for each population, two
// timed runs at an added latency, the first with edited percent of the
// secrets edited and no previous run, the second an hour later with
// another edited percent edited and the first run read as its previous
// run; it writes its progress to progress and the table to out.
func (j *Job) BenchLatency(ctx context.Context, out, progress io.Writer, sizes []int, edited int, lat time.Duration) error {
	fmt.Fprintf(out, "rotation-check from %s, %s added to every AWS call, %d%% of the secrets edited before each run\n", j.Builder.ModuleDir, lat, edited)
	var rows []string
	for _, n := range sizes {
		fmt.Fprintf(progress, "%d secrets: creating them, deploying, two scheduled runs...\n", n)
		runs, err := j.AtLatency(ctx, n, edited, lat)
		if err != nil {
			return fmt.Errorf("%d secrets: %w", n, err)
		}
		floor := Floor(n, lat)
		for i, r := range runs {
			rows = append(rows, fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.1f MB\t", n, []string{"first", "second"}[i],
				Round(r.Took), Round(floor), ratio(r.Took, floor),
				r.Calls[OpListSecrets], r.Calls[OpBatchWrite], r.Calls[OpListVersions], r.Calls[OpQuery], r.Other(), float64(r.PeakKB)/1024))
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "secrets\trun\ttook\tfloor\ttook/floor\tListSecrets\tBatchWriteItem\tListSecretVersionIds\tQuery\tother calls\tpeak RSS\t")
	for _, row := range rows {
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// ratio is run/floor, or "-" when there is no floor (no added latency).
func ratio(run, floor time.Duration) string {
	if floor == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(run)/float64(floor))
}

// Floor is the least time a run over n secrets can take at a latency:
// its ListSecrets pages must follow one another, each paying it.
func Floor(n int, lat time.Duration) time.Duration {
	return time.Duration((n+pageSize-1)/pageSize) * lat
}

// LatencyResult is what one run at an added latency measured.
type LatencyResult struct {
	Took   time.Duration
	Calls  map[string]int // by operation
	PeakKB int            // the function process's peak memory; 0 where unknown
}

// Other counts the calls not of the named operations: the run log's
// PutItem.
func (r LatencyResult) Other() int {
	n := 0
	for op, k := range r.Calls {
		if op != OpListSecrets && op != OpBatchWrite && op != OpListVersions && op != OpQuery {
			n += k
		}
	}
	return n
}

// AtLatency deploys the stack on a fresh cloud with n managed secrets,
// edited percent of them edited later, points the function at a proxy
// that adds lat to each of its calls, and times one scheduled run; then,
// an hour later, with another edited percent edited, a second one, which
// reads the first as its previous run.
func (j *Job) AtLatency(ctx context.Context, n, edited int, lat time.Duration) ([]LatencyResult, error) {
	cloud, err := localcloud.Start(localcloud.Options{Region: j.Region})
	if err != nil {
		return nil, err
	}
	defer cloud.Close()
	front, err := url.Parse(cloud.URL)
	if err != nil {
		return nil, err
	}
	proxy := latency.To(front, lat)
	srv := httptest.NewServer(proxy)
	defer srv.Close()

	d := j.Deployer(cloud.URL, nil)
	clients := d.Clients
	defer func() { _, _ = d.Teardown(context.WithoutCancel(ctx), j.Template) }()
	stack, err := d.Deploy(ctx, j.Template)
	if err != nil {
		return nil, err
	}
	if err := createSecrets(ctx, cloud.URL, clients.SecretsManager, n, edited); err != nil {
		return nil, err
	}
	fn := stack.Outputs["FunctionName"]
	cfg, err := clients.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: &fn})
	if err != nil {
		return nil, err
	}
	vars := cfg.Environment.Variables
	vars["AWS_ENDPOINT_URL"] = srv.URL // every call the function makes goes through the proxy
	if _, err := clients.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: &fn, Environment: &ltypes.Environment{Variables: vars}, Timeout: aws.Int32(900),
	}); err != nil {
		return nil, err
	}
	s, err := scenario.FromOutputs(stack.Outputs)
	if err != nil {
		return nil, err
	}
	sched, err := scenario.ScheduleConfig(ctx, clients.Scheduler, s)
	if err != nil {
		return nil, err
	}
	var runs []LatencyResult
	for i := range 2 {
		if i == 1 { // an hour later, with other secrets edited
			if _, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "1h", SkipFires: true}); err != nil {
				return nil, err
			}
			if err := editSecrets(ctx, clients.SecretsManager, n, edited, 5); err != nil {
				return nil, err
			}
		}
		var r LatencyResult
		proxy.Reset()
		start := time.Now()
		inv, err := scenario.InvokeAsScheduler(ctx, clients.Lambda, sched, cloud.Scheduler().Clock().Now())
		r.Took = time.Since(start)
		if err != nil {
			return nil, err
		}
		if inv.Result.Checked != n || inv.Result.Written != n || (i == 1) != (inv.Result.PreviousRunID != "") {
			out, _ := json.Marshal(inv.Result)
			return nil, fmt.Errorf("run %d checked or wrote the wrong number of secrets, or read the wrong previous run: %s", i+1, out)
		}
		r.Calls = proxy.Reset()
		if pid, ok := cloud.FunctionPID(fn); ok {
			r.PeakKB = memstat.PeakRSS(pid)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// createSecrets creates n secrets tagged Managed=true, moves the cloud
// clock 60 days on, and edits a tag on edited percent of them, spread
// evenly: those are old secrets changed recently, which the run must look
// up.
func createSecrets(ctx context.Context, cloudURL string, sm *secretsmanager.Client, n, edited int) error {
	for i := range n {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(fmt.Sprintf("bench-%06d", i)), SecretString: aws.String("value"),
			Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}},
		}); err != nil {
			return fmt.Errorf("create secret %d: %w", i, err)
		}
	}
	if _, err := clockapi.MoveClock(ctx, cloudURL, clockapi.ClockMove{Advance: "60d", SkipFires: true}); err != nil {
		return err
	}
	return editSecrets(ctx, sm, n, edited, 0)
}

// editSecrets edits a tag on edited percent of the n secrets, spread
// evenly; another shift edits others.
func editSecrets(ctx context.Context, sm *secretsmanager.Client, n, edited, shift int) error {
	for i := range n {
		if !isEdited(i+shift, edited) {
			continue
		}
		if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(fmt.Sprintf("bench-%06d", i)),
			Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String(fmt.Sprintf("bench-%d", shift))}}}); err != nil {
			return fmt.Errorf("tag secret %d: %w", i, err)
		}
	}
	return nil
}

// isEdited says whether the i-th secret is among the percent edited:
// spread evenly, exactly percent of every 100.
func isEdited(i, percent int) bool { return (i+1)*percent/100 != i*percent/100 }
