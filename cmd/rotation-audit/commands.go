package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// formatFlag registers -format.
func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", "table", "output format: table, csv, json or markdown")
}

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var src source
	src.register(fs)
	runID := fs.String("run", "latest", "the run: latest (the latest complete run) or a run ID such as run-1795615200000")
	all := fs.Bool("all", false, "list every secret checked, not only those that need rotation")
	format := formatFlag(fs)
	failOnFlagged := fs.Bool("fail-on-flagged", false, "exit with status 3 when any secret needs rotation (for pipelines)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: rotation-audit report [flags]

The answer for one run: the secrets that need rotation, oldest first, then a summary
line (run, checked_at, checked, flagged, threshold). It costs two Queries: the run log
(newest complete run first, one item) and the run's rows (the audit table's by-run
index). The latest run is the latest complete one; -run picks any, and a run that did
not complete is reported as such, with its error, and exit status 4. CSV columns, in
this order: `+strings.Join(report.ReportColumns, ",")+`

A CSV cell that begins with =, +, -, @, a tab or a carriage return is prefixed with a
single quote, so a spreadsheet shows it as text, not as a formula.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	f, err := report.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("-format: %w: %w", err, errUsage)
	}
	if *runID != "latest" {
		if _, err := report.RunTime(*runID); err != nil {
			return fmt.Errorf("-run: %w: %w", err, errUsage)
		}
	}
	store, _, err := src.open(ctx)
	if err != nil {
		return err
	}
	var run audit.RunEntry
	if *runID == "latest" {
		run, err = store.LatestRun(ctx)
	} else {
		run, err = store.Run(ctx, *runID)
	}
	if err != nil {
		return src.tableError(err, store.RunsTable, "run log")
	}
	rows, err := store.Rows(ctx, run.RunID)
	if err != nil {
		return src.tableError(err, store.Table, "audit")
	}
	r := report.NewReport(src.stack, run, rows, *all)
	if err := report.WriteReport(stdout, r, f); err != nil {
		return err
	}
	switch {
	case !run.Complete:
		return fmt.Errorf("%w: %s", errIncomplete, r.Incomplete())
	case *failOnFlagged && run.Flagged > 0:
		return fmt.Errorf("%d of %d: %w", run.Flagged, run.Checked, errFlagged)
	}
	return nil
}

// periodFlags are -quarter, -from and -to.
type periodFlags struct {
	quarter, from, to string
}

func (p *periodFlags) register(fs *flag.FlagSet, defaultSpan string) {
	fs.StringVar(&p.quarter, "quarter", "", "a quarter such as 2026Q4")
	fs.StringVar(&p.from, "from", "", "the first day, such as 2026-10-01 (or an RFC 3339 time)")
	fs.StringVar(&p.to, "to", "", "the last day, included, such as 2026-12-31 (or an RFC 3339 time, excluded) (default "+defaultSpan+")")
}

// period is [from, to): a quarter, or -from/-to, or def(now).
func (p *periodFlags) period(now time.Time, def func(time.Time) (time.Time, time.Time)) (time.Time, time.Time, error) {
	if p.quarter != "" {
		if p.from != "" || p.to != "" {
			return time.Time{}, time.Time{}, fmt.Errorf("give -quarter or -from/-to, not both: %w", errUsage)
		}
		from, to, err := report.Quarter(p.quarter)
		if err != nil {
			return from, to, fmt.Errorf("-quarter: %w: %w", err, errUsage)
		}
		return from, to, nil
	}
	from, to := def(now)
	var err error
	if p.from != "" {
		if from, err = parseDay(p.from, false); err != nil {
			return from, to, fmt.Errorf("-from: %w: %w", err, errUsage)
		}
	}
	if p.to != "" {
		if to, err = parseDay(p.to, true); err != nil {
			return from, to, fmt.Errorf("-to: %w: %w", err, errUsage)
		}
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("-from %s is not before -to %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), errUsage)
	}
	return from, to, nil
}

// parseDay reads a date (a whole UTC day; as an end, the day is included)
// or an RFC 3339 time.
func parseDay(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("%q is not a date such as 2026-10-01 or an RFC 3339 time", s)
	}
	return t, nil
}

// thisQuarter is the quarter now falls in.
func thisQuarter(now time.Time) (time.Time, time.Time) {
	from, to, _ := report.Quarter(report.QuarterOf(now))
	return from, to
}

func cmdHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	var src source
	src.register(fs)
	src.registerSchedule(fs)
	var p periodFlags
	p.register(fs, "the current quarter")
	format := formatFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: rotation-audit history [-quarter 2026Q4 | -from DATE -to DATE] [flags]

The evidence for a period, for an auditor: per secret, the days it was seen and flagged,
the first and last day flagged, whether it is flagged now and its longest flagged
stretch; for the period, the runs the schedule expected against those recorded, with
the gaps listed.

Each day is judged by its last complete run, so a quarter costs about 92 Queries of the
audit table's run index (one per day) and one Query of the run log per month: never a
read of every row, and never a Scan. The runs expected come from the schedule's
expression, read from EventBridge Scheduler (or -schedule).`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	f, err := report.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("-format: %w: %w", err, errUsage)
	}
	store, cfg, err := src.open(ctx)
	if err != nil {
		return err
	}
	now := src.now(ctx)()
	from, to, err := p.period(now, thisQuarter)
	if err != nil {
		return err
	}
	sched := src.scheduleOf(ctx, cfg, stderr)
	h, err := report.BuildHistory(ctx, store, src.stack, from, to, now, sched)
	if err != nil {
		return src.readError(err)
	}
	return report.WriteHistory(stdout, h, f)
}

func cmdRuns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	var src source
	src.register(fs)
	var p periodFlags
	p.register(fs, "the last 7 days")
	format := formatFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: rotation-audit runs [-from DATE -to DATE | -quarter 2026Q4] [flags]

The run log, oldest first: every run, complete or not, with its counts, duration and
error. One Query per month of the period.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	f, err := report.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("-format: %w: %w", err, errUsage)
	}
	store, _, err := src.open(ctx)
	if err != nil {
		return err
	}
	from, to, err := p.period(src.now(ctx)(), func(now time.Time) (time.Time, time.Time) { return now.AddDate(0, 0, -7), now.Add(time.Second) })
	if err != nil {
		return err
	}
	runs, err := store.Runs(ctx, from, to)
	if err != nil {
		return src.readError(err)
	}
	return report.WriteRuns(stdout, runs, f)
}
