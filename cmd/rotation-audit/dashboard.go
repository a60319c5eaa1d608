package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/dashboard"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

func cmdDashboard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	var src source
	src.register(fs)
	src.registerSchedule(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "where the dashboard listens")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: rotation-audit dashboard [-addr 127.0.0.1:8080] [flags]

Serve the web dashboard, read-only, until Ctrl-C: the latest run, the secrets that need
rotation now, a chart of flagged and checked per day, a grid of every secret's status
day by day for a quarter, a page per secret, and the report and history as CSV, JSON
and Markdown. It reads with the same Queries as report and history.

On an organization hub (a stack deployed with Accounts) the first page is the
organization's: every account of the latest run, reporting or not, with its checked and
flagged, the accounts not reporting first with why; each account links to its own page
(/?account=<id>), which shows the above for its secrets, each with its account and region.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	store, cfg, err := src.open(ctx)
	if err != nil {
		return err
	}
	if err := check(ctx, &src, store, src.now(ctx)()); err != nil {
		return err
	}
	sched := src.scheduleOf(ctx, cfg, stderr)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another with -addr): %v: %w", *addr, err, errUsage)
	}
	srv := &dashboard.Server{Store: store, Stack: src.stack, Schedule: sched, Now: src.now(ctx),
		Log: slog.New(slog.NewTextHandler(stderr, nil)), Scheduler: scheduler.NewFromConfig(cfg), ScheduleName: src.scheduleName}
	if srv.ScheduleName == "" {
		srv.ScheduleName = src.stack + "-hourly"
	}
	fmt.Fprintf(stdout, "dashboard of %s: %s  (Ctrl-C stops it)\n", src.stack, dashboardURL(*addr, ln.Addr()))
	return srv.Serve(ctx, ln)
}

// dashboardURL is the address to open in a browser: the host as given
// in -addr (0.0.0.0 included, which browsers reach on this machine), or
// localhost when -addr gave none, with the port the listener got (-addr
// may ask for port 0).
func dashboardURL(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		host = "localhost"
	}
	port := "0"
	if tcp, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// check reads both tables once before the dashboard serves, so a wrong
// stack or table, or the endpoint down, is one line now rather than an
// error page later: the latest run (none yet is fine, the dashboard says
// so), and the audit table's run index for a run that cannot exist (an
// empty answer, one Query).
//
// When the latest run is an organization run, the organization table and
// the units table are read the same way, a Query each.
func check(ctx context.Context, src *source, store *report.Store, now time.Time) error {
	latest, err := store.LatestRun(ctx, now)
	if err != nil && !errors.Is(err, report.ErrNoRuns) {
		return src.tableError(err, store.RunsTable, "run log")
	}
	if err := store.EachRow(ctx, "run-0", func(audit.Record) {}); err != nil {
		return src.tableError(err, store.Table, "audit")
	}
	if err != nil || !latest.Run.Organization() {
		return nil
	}
	org := store.ForRun(latest.Run)
	if err := org.EachRow(ctx, "run-0", func(audit.Record) {}); err != nil {
		return src.tableError(err, org.OrgTable, "organization audit")
	}
	if _, err := org.Units(ctx, "run-0"); err != nil {
		return src.tableError(err, org.UnitsTable, "units")
	}
	return nil
}
