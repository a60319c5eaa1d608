package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/dashboard"
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
and Markdown. It reads with the same Queries as report and history.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	store, cfg, err := src.open(ctx)
	if err != nil {
		return err
	}
	sched := src.scheduleOf(ctx, cfg, stderr)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another with -addr): %v: %w", *addr, err, errUsage)
	}
	srv := &dashboard.Server{Store: store, Stack: src.stack, Schedule: sched, Now: src.now(ctx)}
	fmt.Fprintf(stdout, "dashboard of %s: http://%s/  (Ctrl-C stops it)\n", src.stack, ln.Addr())
	return srv.Serve(ctx, ln)
}
