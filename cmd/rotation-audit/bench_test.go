//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/latency"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/memstat"
)

// The quarter the benchmark reads, and what it holds.
const (
	benchStack   = "bench"
	benchQuarter = "2026Q4"
	benchSecrets = 1000
	benchRuns    = 92 // one a day, every day of the quarter
)

// BenchmarkHistoryQuarter times "rotation-audit history" for a quarter of
// 1,000 secrets on the embedded cloud, run as a user runs it: the built
// command, in its own process, printing CSV.
//
// ns/op is the command's wall time, start to exit. On the embedded cloud
// most of it is the emulator's: kumo answers a Query by walking every item
// of the table, so each of the history's 92 day Queries reads all 92,000
// rows. cmd-CPU-ms/op is the command's own CPU time (user and system).
// peak-RSS-MB is the largest peak resident memory of the command over the
// runs. queries/op is how many DynamoDB Queries one history makes, counted
// once before the timed runs; secrets/op the secrets in its output.
func BenchmarkHistoryQuarter(b *testing.B) {
	if testing.Short() {
		b.Skip("-short: the setup deploys the stack, creates 1,000 secrets and runs the check 92 times (about 15 s)")
	}
	start := time.Now()
	cloudURL := quarterStack(b)
	stacked := time.Now()
	bin := buildCommand(b)
	built := time.Now()
	queries := checkQuarter(b, bin, cloudURL)
	b.Logf("setup %v: stack %v, go build %v, one history checked %v", time.Since(start).Round(time.Millisecond),
		stacked.Sub(start).Round(time.Millisecond), built.Sub(stacked).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))

	var peakMB float64
	var cpu time.Duration
	secrets := 0
	for b.Loop() {
		r := history(b, bin, cloudURL, "csv")
		peakMB = max(peakMB, r.peakMB)
		cpu += r.cpu
		records, err := csv.NewReader(bytes.NewReader(r.stdout)).ReadAll()
		if err != nil {
			b.Fatalf("the CSV does not parse: %v", err)
		}
		if len(records) != 1+benchSecrets || records[0][0] != "secret_name" {
			b.Fatalf("the CSV has %d lines, want a header and %d secrets", len(records), benchSecrets)
		}
		secrets = len(records) - 1
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cmd-CPU-ms/op")
	b.ReportMetric(peakMB, "peak-RSS-MB")
	b.ReportMetric(float64(queries), "queries/op")
	b.ReportMetric(float64(secrets), "secrets/op")
}

// quarterStack starts an embedded cloud on 2026-09-30, deploys
// template.yaml as stack "bench" with a daily schedule and no seeded
// secrets, creates 1,000 secrets tagged Managed=true, and moves the clock
// 92 days on, so that the check runs 92 times, at midnight UTC on each day
// of 2026Q4. It returns the cloud's URL.
//
// A history judges each UTC day by its last complete run, so a daily
// schedule gives exactly the rows it reads, while the emulator holds 92,000
// rows instead of the 2.2 million of an hourly schedule. A rate() schedule
// first fires one period after it is created, so the clock starts the day
// before the quarter: started on 2026-10-01, the first run would be on
// 2026-10-02 and the quarter would have 91.
func quarterStack(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	cloud, err := localcloud.Start(localcloud.Options{ClockStart: time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cloud.Close() })
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := cfn.Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	root, err := bootstrap.ModuleRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	bs := &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	clients := deploy.NewClients(cloud.URL, localcloud.DefaultRegion)
	d := &deploy.Deployer{
		Clients:  clients,
		Stack:    benchStack,
		Code:     bs.Code(true),
		Embedded: true,
		Params: map[string]string{
			"SeedTestSecrets":    "false",
			"ScheduleExpression": "rate(1 day)",
			"RunPeriodSeconds":   "86400", // the missed-runs alarm, in step with the schedule
		},
	}
	if _, err := d.Deploy(ctx, tmpl); err != nil {
		b.Fatal(err)
	}
	deployed := time.Now()
	if err := createManagedSecrets(ctx, clients.SecretsManager, benchSecrets); err != nil {
		b.Fatal(err)
	}
	created := time.Now()
	moved, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "2208h"})
	if err != nil {
		b.Fatalf("advance the clock: %v", err)
	}
	if moved.Failed != 0 {
		b.Fatalf("%d of %d runs failed", moved.Failed, moved.Fired)
	}
	b.Logf("deploy %v, %d secrets %v, clock %s to %s: %d runs in %v",
		deployed.Sub(start).Round(time.Millisecond), benchSecrets, created.Sub(deployed).Round(time.Millisecond),
		moved.From.Format(time.RFC3339), moved.To.Format(time.RFC3339), moved.Fired, time.Since(created).Round(time.Millisecond))
	return cloud.URL
}

// createManagedSecrets creates n secrets tagged Managed=true, a few at a
// time.
func createManagedSecrets(ctx context.Context, sm *secretsmanager.Client, n int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name: aws.String(fmt.Sprintf("bench-%06d", i)), SecretString: aws.String("value"),
				Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}},
			})
			if err != nil {
				return fmt.Errorf("create secret %d: %w", i, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// buildCommand builds the rotation-audit command into a temporary
// directory and returns its path.
func buildCommand(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "rotation-audit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// checkQuarter runs the history once as JSON, through a proxy that counts
// the calls, checks that it has the 92 runs and the 1,000 secrets, and
// returns how many Queries it made.
func checkQuarter(b *testing.B, bin, cloudURL string) int {
	b.Helper()
	target, err := url.Parse(cloudURL)
	if err != nil {
		b.Fatal(err)
	}
	proxy := latency.To(target, 0) // no latency: it only counts the calls
	srv := httptest.NewServer(proxy)
	defer srv.Close()

	r := history(b, bin, srv.URL, "json")
	var h struct {
		Expected int `json:"runs_expected"`
		Recorded int `json:"runs_recorded"`
		Secrets  []struct {
			Name string `json:"secret_name"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal(r.stdout, &h); err != nil {
		b.Fatalf("the history's JSON: %v", err)
	}
	if h.Recorded != benchRuns || h.Expected != benchRuns {
		b.Fatalf("the history has %d runs recorded of %d expected, want %d of %d", h.Recorded, h.Expected, benchRuns, benchRuns)
	}
	if len(h.Secrets) != benchSecrets {
		b.Fatalf("the history has %d secrets, want %d", len(h.Secrets), benchSecrets)
	}
	calls := proxy.Reset()
	b.Logf("one history's calls: %v", calls)
	return calls["DynamoDB_20120810.Query"]
}

// commandRun is what one run of the command gave: its output, its peak
// resident memory in MB and its CPU time.
type commandRun struct {
	stdout []byte
	stderr []byte
	peakMB float64
	cpu    time.Duration
}

// history runs "rotation-audit history" for the quarter against the
// endpoint. Anything but exit status 0, or a line on stderr, fails the
// benchmark.
func history(b *testing.B, bin, endpoint, format string) commandRun {
	b.Helper()
	r := readCommand(b, bin, endpoint, benchStack, "history", "-quarter", benchQuarter, "-format", format)
	if len(r.stderr) > 0 {
		b.Fatalf("rotation-audit history wrote to stderr: %s", r.stderr)
	}
	if r.peakMB == 0 {
		b.Fatal("no peak memory read from /proc")
	}
	return r
}

// watchPeak reads a running process's peak resident memory (VmHWM in
// /proc/<pid>/status) every few milliseconds; the function it returns,
// called once the process has exited, stops and returns the last reading
// in kB. It may miss memory first touched in the last few milliseconds.
//
// The Maxrss of the process's rusage would be simpler, but wrong here:
// Linux starts a child's Maxrss from the peak of the process that started
// it (os/exec runs the child in the parent's memory until it execs), and
// the benchmark's process holds the embedded cloud, hundreds of MB.
func watchPeak(pid int) func() int {
	stop, last := make(chan struct{}), make(chan int)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		kb := 0
		for {
			select {
			case <-stop:
				last <- kb
				return
			case <-tick.C:
				kb = max(kb, memstat.PeakRSS(pid))
			}
		}
	}()
	return func() int {
		close(stop)
		return <-last
	}
}
