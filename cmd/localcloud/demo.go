package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/dashboard"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/demo"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	quarter := fs.String("quarter", "2026Q4", "the quarter to simulate")
	only := fs.Int("days", 0, "simulate only the quarter's first `N` days (0: all of it)")
	addr := fs.String("addr", "127.0.0.1:8080", "where the dashboard listens afterwards")
	serve := fs.Bool("serve", os.Getenv("DEMO_SERVE") != "0", "serve the dashboard until Ctrl-C afterwards (env DEMO_SERVE=0 to stop after printing)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: localcloud demo [flags]

A quarter on a laptop: deploy the stack on the embedded cloud, add 40 secrets of five
services with a plan each (rotated every 20 days, never, too rarely, failing, edited,
deleted, owned by RDS, not managed), move the cloud clock through the quarter with the
hourly schedule firing and the plans carried out day by day, print the evidence for
the quarter (rotation-audit history), then serve the dashboard until Ctrl-C.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	from, to, err := report.Quarter(*quarter)
	if err != nil {
		return fmt.Errorf("-quarter: %w: %w", err, errUsage)
	}
	days := int(to.Sub(from) / (24 * time.Hour))
	switch {
	case *only < 0 || *only > days:
		return fmt.Errorf("-days: %d is not between 0 and the quarter's %d days: %w", *only, days, errUsage)
	case *only > 0:
		days = *only
	}
	sf.params.setDefault("SeedTestSecrets", "false") // the demo's 40 secrets are the population
	c, err := newCycle(sf, stdout)
	if err != nil {
		return err
	}
	cfg := demo.Config{Job: c.job(), Quarter: *quarter, From: from, To: to, Days: days, Stderr: stderr}
	if *serve {
		cfg.Serve = func(ctx context.Context, srv *dashboard.Server) error {
			return serveDashboard(ctx, srv, *addr, report.QuarterOf(from), stdout)
		}
	}
	return demo.Run(ctx, cfg)
}
