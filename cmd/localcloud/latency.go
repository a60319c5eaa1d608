package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotation-audit/rotation-audit/internal/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/latency"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/memstat"
	"github.com/rotation-audit/rotation-audit/internal/scenario"
)

func cmdBenchLatency(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-latency", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	latency := fs.Duration("latency", 20*time.Millisecond, "added to every AWS call the function makes")
	sizes := fs.String("secrets", "1000,10000", "the populations to time, comma-separated")
	edited := fs.Int("edited", 10, "the percentage of secrets whose tags are edited after 60 days (each needs a ListSecretVersionIds)")
	module := fs.String("module", ".", "the module whose rotation-check is timed (another checkout, to compare)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: localcloud bench-latency [flags]

Time one run of the real function at AWS-like latency: a proxy adds a fixed latency to
every AWS call the function makes on its way to the embedded cloud. For each population
it prints the run's time, the paging floor (ListSecrets pages must follow one another:
pages x latency), their ratio, the calls made, and the function process's peak memory.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-secrets: %q is not a positive number: %w", s, errUsage)
		}
		ns = append(ns, n)
	}
	if *edited < 0 || *edited > 100 {
		return fmt.Errorf("-edited: %d is not a percentage: %w", *edited, errUsage)
	}
	root, err := bootstrap.ModuleRoot(*module)
	if err != nil {
		return fmt.Errorf("-module: %w: %w", err, errUsage)
	}
	sf.params.setDefault("SeedTestSecrets", "false")
	c, err := newCycle(sf, io.Discard)
	if err != nil {
		return err
	}
	c.builder = &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	fmt.Fprintf(stdout, "rotation-check from %s, %s added to every AWS call, %d%% of the secrets edited\n", root, *latency, *edited)
	var rows []string
	for _, n := range ns {
		fmt.Fprintf(stderr, "%d secrets: creating them, deploying, one scheduled run...\n", n)
		r, err := c.latencyRun(ctx, n, *edited, *latency)
		if err != nil {
			return fmt.Errorf("%d secrets: %w", n, err)
		}
		floor := time.Duration((n+99)/100) * *latency
		rows = append(rows, fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f MB\t", n, round(r.took), round(floor), ratio(r.took, floor),
			r.calls[opListSecrets], r.calls[opBatchWrite], r.calls[opListVersions], r.other(), float64(r.peakKB)/1024))
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "secrets\trun\tfloor\trun/floor\tListSecrets\tBatchWriteItem\tListSecretVersionIds\tother calls\tpeak RSS\t")
	for _, row := range rows {
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// The operations the table counts by name, as the proxy sees them.
const (
	opListSecrets  = "secretsmanager.ListSecrets"
	opBatchWrite   = "DynamoDB_20120810.BatchWriteItem"
	opListVersions = "secretsmanager.ListSecretVersionIds"
)

// ratio is run/floor, or "-" when there is no floor (no added latency).
func ratio(run, floor time.Duration) string {
	if floor == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(run)/float64(floor))
}

// latencyResult is what one timed run measured.
type latencyResult struct {
	took   time.Duration
	calls  map[string]int
	peakKB int
}

// other counts the calls the table does not name: the run log's PutItem.
func (r latencyResult) other() int {
	n := 0
	for op, k := range r.calls {
		if op != opListSecrets && op != opBatchWrite && op != opListVersions {
			n += k
		}
	}
	return n
}

// latencyRun deploys the stack on a fresh cloud with n managed secrets,
// points the function at the latency proxy, and times one scheduled run.
func (c *cycle) latencyRun(ctx context.Context, n, edited int, lat time.Duration) (latencyResult, error) {
	var r latencyResult
	cloud, err := localcloud.Start(localcloud.Options{Region: c.flags.region})
	if err != nil {
		return r, err
	}
	defer cloud.Close()
	front, err := url.Parse(cloud.URL)
	if err != nil {
		return r, err
	}
	proxy := latency.To(front, lat)
	srv := httptest.NewServer(proxy)
	defer srv.Close()

	clients := deploy.NewClients(cloud.URL, c.flags.region)
	d := &deploy.Deployer{Clients: clients, Stack: c.flags.stack, Params: c.flags.params, Code: c.builder.Code(true), Embedded: true}
	defer func() { _, _ = d.Teardown(context.WithoutCancel(ctx), c.tmpl) }()
	stack, err := d.Deploy(ctx, c.tmpl)
	if err != nil {
		return r, err
	}
	if err := createSecrets(ctx, cloud.URL, clients.SecretsManager, n, edited); err != nil {
		return r, err
	}
	fn := stack.Outputs["FunctionName"]
	cfg, err := clients.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: &fn})
	if err != nil {
		return r, err
	}
	vars := cfg.Environment.Variables
	vars["AWS_ENDPOINT_URL"] = srv.URL // every call the function makes goes through the proxy
	if _, err := clients.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: &fn, Environment: &ltypes.Environment{Variables: vars}, Timeout: aws.Int32(900),
	}); err != nil {
		return r, err
	}
	s, err := scenario.FromOutputs(stack.Outputs)
	if err != nil {
		return r, err
	}
	sched, err := scenario.ScheduleConfig(ctx, clients.Scheduler, s)
	if err != nil {
		return r, err
	}
	proxy.Reset()
	start := time.Now()
	inv, err := scenario.InvokeAsScheduler(ctx, clients.Lambda, sched, cloud.Scheduler().Clock().Now())
	r.took = time.Since(start)
	if err != nil {
		return r, err
	}
	if inv.Result.Checked != n || inv.Result.Written != n {
		out, _ := json.Marshal(inv.Result)
		return r, fmt.Errorf("the run checked or wrote the wrong number of secrets: %s", out)
	}
	r.calls = proxy.Reset()
	if pid, ok := cloud.FunctionPID(fn); ok {
		r.peakKB = memstat.PeakRSS(pid)
	}
	return r, nil
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
	for i := range n {
		if (i+1)*edited/100 == i*edited/100 {
			continue
		}
		if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(fmt.Sprintf("bench-%06d", i)),
			Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String("bench")}}}); err != nil {
			return fmt.Errorf("tag secret %d: %w", i, err)
		}
	}
	return nil
}
