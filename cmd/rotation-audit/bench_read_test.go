//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/benchread"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/memstat"
)

// The read benchmark's stack: a daily run from the day before 2026Q4 to
// its last day, and the cloud's clock at noon on that day.
var (
	readFirst = time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	readNow   = time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
)

// BenchmarkReadQuarter is make bench-read: a stack of BENCH_READ_SECRETS
// secrets (default 10,000) and a daily run for 2026Q4 and the day before
// (BENCH_READ_RUNS, default 93), about 1% of the rows changing each day,
// written straight into an embedded cloud of its own process; then what
// `rotation-audit history -quarter 2026Q4` and the dashboard's index page
// read (Queries, items, bytes), their time and peak memory; then
// BENCH_READ_BURST (default 200) concurrent requests to the dashboard,
// all of which must answer 200, and the peak memory of the dashboard and
// of the cloud meanwhile. BENCH_READ_BIN measures another build of the
// command (such as the one before this change).
func BenchmarkReadQuarter(b *testing.B) {
	if testing.Short() {
		b.Skip("-short: the setup writes a quarter of rows")
	}
	secrets, runs, burst := envInt(b, "BENCH_READ_SECRETS", 10_000), envInt(b, "BENCH_READ_RUNS", 93), envInt(b, "BENCH_READ_BURST", 200)
	bin := os.Getenv("BENCH_READ_BIN")
	if bin == "" {
		bin = buildCommand(b)
	}
	cloudURL, cloudPID := startCloud(b)
	ctx := context.Background()
	db := deploy.NewClients(cloudURL, localcloud.DefaultRegion).DynamoDB
	stack := "bench-read"
	began := time.Now()
	if err := benchread.CreateTables(ctx, db, stack); err != nil {
		b.Fatal(err)
	}
	st, err := benchread.Generate(ctx, db, benchread.Options{Stack: stack, Secrets: secrets, First: readFirst, Runs: runs, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d runs, %d rows, %d changes after the first run, %d secrets at the end, in %v; the cloud's peak RSS %d MB",
		st.Runs, st.Rows, st.Changes, st.Secrets, time.Since(began).Round(time.Millisecond), memstat.PeakRSS(cloudPID)/1024)

	target, _ := url.Parse(cloudURL)
	counter := benchread.NewCounter(target)
	proxy := httptest.NewServer(counter)
	defer proxy.Close()

	var r commandRun
	var took time.Duration
	for b.Loop() {
		counter.Reset()
		t := time.Now()
		r = readCommand(b, bin, proxy.URL, stack, "history", "-quarter", "2026Q4", "-schedule", "rate(1 day)", "-format", "csv")
		took = time.Since(t)
	}
	q, items, n := counter.Reset()
	bound := 3 * (secrets + st.Changes + st.Runs) / 2
	b.Logf("history -quarter: %d Queries, %d items read (1.5 x (secrets + changes + runs) = %d), %.1f MB read, %v, peak RSS %.0f MB, %d lines",
		q, items, bound, float64(n)/1e6, took.Round(time.Millisecond), r.peakMB, bytes.Count(r.stdout, []byte("\n")))
	b.ReportMetric(float64(items), "history-items")
	b.ReportMetric(float64(q), "history-queries")
	b.ReportMetric(r.peakMB, "history-peak-RSS-MB")
	scale := 50_000.0 / float64(secrets)
	b.Logf("at 50,000 secrets (the same shares): history reads about %.0f items (every day's run in full: %.0f)",
		50_000+float64(st.Changes)*scale+float64(st.Runs), float64(st.Runs-1)*50_000)

	dash, dashPID := startDashboard(b, bin, proxy.URL, stack)
	for _, visit := range []string{"cold", "warm"} {
		counter.Reset()
		t := time.Now()
		size, status := fetch(b, dash+"/")
		took := time.Since(t)
		q, items, n := counter.Reset()
		b.Logf("dashboard index (%s): HTTP %d, %.2f MB of HTML in %v; %d Queries, %d items read, %.1f MB read; the dashboard's peak RSS %d MB",
			visit, status, float64(size)/1e6, took.Round(time.Millisecond), q, items, float64(n)/1e6, memstat.PeakRSS(dashPID)/1024)
		if visit == "cold" {
			b.ReportMetric(float64(size)/1e6, "index-MB")
			b.ReportMetric(float64(took.Milliseconds()), "index-ms")
			b.ReportMetric(float64(items), "index-items")
		}
	}
	if burst == 0 {
		return
	}
	resetPeak(b, dashPID)
	resetPeak(b, cloudPID)
	t := time.Now()
	statuses := concurrently(b, dash, burst)
	b.Logf("%d concurrent requests to the dashboard: %v in %v; peak RSS of the dashboard %d MB, of the embedded cloud %d MB",
		burst, statuses, time.Since(t).Round(time.Millisecond), memstat.PeakRSS(dashPID)/1024, memstat.PeakRSS(cloudPID)/1024)
	if statuses[http.StatusOK] != burst {
		b.Fatalf("not every request answered 200: %v", statuses)
	}
}

// envInt is an integer from the environment, or def.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}

// startCloud builds cmd/localcloud and serves an embedded cloud in a
// process of its own, so its memory is its own; it returns its URL and
// process ID.
func startCloud(b *testing.B) (string, int) {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "localcloud")
	if out, err := exec.Command("go", "build", "-o", bin, "../localcloud").CombinedOutput(); err != nil {
		b.Fatalf("go build localcloud: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-clock-start", readNow.Format(time.RFC3339))
	return startProcess(b, cmd, regexp.MustCompile(`ready at (http://\S+)`))
}

// startDashboard serves the command's dashboard on a free port, and
// returns its URL and process ID.
func startDashboard(b *testing.B, bin, endpoint, stack string) (string, int) {
	b.Helper()
	cmd := exec.Command(bin, "dashboard", "-addr", "127.0.0.1:0", "-endpoint-url", endpoint, "-stack", stack, "-schedule", "rate(1 day)")
	cmd.Env = []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "HOME=" + filepath.Dir(bin)}
	url, pid := startProcess(b, cmd, regexp.MustCompile(`(http://\S+)/`))
	return url, pid
}

// startProcess starts cmd, waits for the line of its output that match
// finds, and stops it when the benchmark ends.
func startProcess(b *testing.B, cmd *exec.Cmd, match *regexp.Regexp) (string, int) {
	b.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if m := match.FindStringSubmatch(lines.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return m[1], cmd.Process.Pid
		}
	}
	b.Fatalf("%s said no address", cmd.Path)
	return "", 0
}

// readCommand runs a read command of rotation-audit against the endpoint,
// as a user would with test credentials, and measures its peak memory and
// CPU time. Anything but exit status 0 fails the benchmark.
func readCommand(b *testing.B, bin, endpoint, stack string, args ...string) commandRun {
	b.Helper()
	cmd := exec.Command(bin, append(args, "-endpoint-url", endpoint, "-stack", stack)...)
	// HOME is the binary's directory, which has no .aws, so no AWS
	// configuration of this machine changes what the command does.
	cmd.Env = []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "HOME=" + filepath.Dir(bin)}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// Start returns once the child has exec'd, so every reading is of the
	// command's own memory.
	peak := watchPeak(cmd.Process.Pid)
	err := cmd.Wait()
	kb := peak()
	if err != nil {
		b.Fatalf("rotation-audit %v: %v\n%s", args, err, stderr.Bytes())
	}
	return commandRun{stdout: stdout.Bytes(), stderr: stderr.Bytes(), peakMB: float64(kb) / 1024,
		cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

// fetch GETs a page whole, and returns its size and status.
func fetch(b *testing.B, url string) (int64, int) {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return n, resp.StatusCode
}

// concurrently sends n requests to the dashboard at once (its index,
// pages of it, filtered, and a secret's page) and counts the answers by
// status; 0 counts a request that got no answer.
func concurrently(b *testing.B, dash string, n int) map[int]int {
	b.Helper()
	paths := []string{"/", "/?page=2", "/?q=bench-read-0001", "/secret?name=bench-read-000042", "/?quarter=2026Q4"}
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status := 0
			resp, err := client.Get(dash + paths[i%len(paths)])
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil {
					status = resp.StatusCode
				}
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return statuses
}

// resetPeak starts a process's peak resident memory (VmHWM) again from
// its current size, so the next reading is of what follows.
func resetPeak(b *testing.B, pid int) {
	b.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Logf("reset the peak memory of process %d: %v", pid, err)
	}
}
