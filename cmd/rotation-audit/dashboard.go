package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/scheduler"

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
	srv := &dashboard.Server{Store: store, Stack: src.stack, Log: slog.New(slog.NewTextHandler(stderr, nil)), Now: src.now(ctx)}
	// A wrong -stack or an endpoint that is down is one line now, not an
	// error page on every view.
	if err := srv.Check(ctx); err != nil {
		return src.readError(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another with -addr): %v: %w", *addr, err, errUsage)
	}
	srv.Schedule = src.scheduleOf(ctx, cfg, stderr)
	srv.Scheduler, srv.ScheduleName = scheduler.NewFromConfig(cfg), src.scheduleName
	if srv.ScheduleName == "" {
		srv.ScheduleName = src.stack + "-hourly"
	}
	fmt.Fprintf(stdout, "dashboard of %s: %s  (Ctrl-C stops it)\n", src.stack, browseURL(ln.Addr()))
	return srv.Serve(ctx, ln)
}

// browseURL is the address a browser on this machine opens: a listener on
// every interface (-addr 0.0.0.0:8080 or :8080) is reached at localhost.
func browseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://localhost:%d/ (listening on every interface, port %d)", tcp.Port, tcp.Port)
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)) + "/"
}
