package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// formatFlag registers -format.
func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", "table", "output format: table, csv, json or markdown")
}

// parseRead parses a read command's flags and its -format: how report,
// history and runs all begin.
func parseRead(fs *flag.FlagSet, args []string, stderr io.Writer, format *string) (report.Format, error) {
	return parseReadAs(fs, args, stderr, format, report.ParseFormat)
}

// parseReadAs is parseRead with the command's own format parser: report
// also offers the finding formats.
func parseReadAs(fs *flag.FlagSet, args []string, stderr io.Writer, format *string, parse func(string) (report.Format, error)) (report.Format, error) {
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return "", err
	}
	f, err := parse(*format)
	if err != nil {
		return f, fmt.Errorf("-format: %w: %w", err, errUsage)
	}
	return f, nil
}

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var src source
	src.register(fs)
	runID := fs.String("run", "latest", "the run: latest (the latest complete run) or a run ID such as run-1795615200000")
	all := fs.Bool("all", false, "list every secret checked, not only those that need rotation")
	changes := fs.Bool("changes", false, "list only what changed since the previous complete run: new, newly flagged and resolved secrets, those whose value or metadata changed, and the gone")
	format := fs.String("format", "table", "output format: table, csv, json, markdown, ocsf (OCSF 1.6.0 Compliance Findings, JSON lines) or asff (a Security Hub findings array)")
	failOnFlagged := fs.Bool("fail-on-flagged", false, "exit with status 3 when any secret needs rotation (for pipelines)")
	account := accountFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: rotation-audit report [flags]

The answer for one run: the secrets that need rotation, oldest first, then a summary
line (run, checked_at, checked, flagged, threshold) and what changed since the previous
complete run ("since the previous run: 0 new, 2 newly flagged, 1 resolved, 1 gone").
Secrets gone since the previous run (deleted, or no longer tagged) are listed apart:
they were not checked. -changes lists only what changed. It costs two Queries: the run
log (newest complete run first, one item) and the run's rows (the audit table's by-run
index). The latest run is the latest complete one; -run picks any, and a run that did
not complete is reported as such, with its error, and exit status 4. CSV columns, in
this order (the gone secrets last, with change "gone" and no status): `+strings.Join(report.ReportColumns, ",")+`

A CSV cell that begins with =, +, -, @, a tab or a carriage return is prefixed with a
single quote, so a spreadsheet shows it as text, not as a formula.

-format ocsf and -format asff write one finding per secret of the run, flagged or not
(as with -all): OCSF 1.6.0 Compliance Findings as JSON lines, or the ASFF findings the
function imports into Security Hub, as one JSON array for
aws securityhub batch-import-findings --findings file://findings.json (100 at most a call).

An organization run (the hub of a stack deployed with Accounts) is read from
<stack>-org-audit and <stack>-units: every row carries its account and region (the
table and Markdown show them first; CSV appends `+strings.Join(report.OrgReportColumns, ",")+`
after the columns above), then each account's checked and flagged, then the accounts
not reporting, with why (in CSV, one line per account and region not done, with
unit_state and unit_error). Accounts not reporting mean secrets are missing: exit
status 4. -account limits the report to one account (its rows from the by-account index).`)
		fs.PrintDefaults()
	}
	f, err := parseReadAs(fs, args, stderr, format, report.ParseReportFormat)
	if err != nil {
		return err
	}
	if *all && *changes {
		return fmt.Errorf("give -all or -changes, not both: %w", errUsage)
	}
	if err := checkAccount(*account); err != nil {
		return err
	}
	if *runID != "latest" {
		if _, err := tables.ParseRunID(*runID); err != nil {
			return fmt.Errorf("-run: %w: %w", err, errUsage)
		}
	}
	store, _, err := src.open(ctx)
	if err != nil {
		return err
	}
	var run audit.RunEntry
	if *runID == "latest" {
		now := src.now(ctx)()
		var found report.Latest
		found, err = store.LatestRun(ctx, now)
		run = found.Run
		noteAhead(stderr, found, now)
	} else {
		run, err = store.Run(ctx, *runID)
	}
	if err != nil {
		return src.tableError(err, store.RunsTable, "run log")
	}
	store = store.ForRun(run)
	if *account != "" && !store.Org {
		return fmt.Errorf("-account %s: run %s is a single-account run; -account is for an organization hub (a stack deployed with Accounts): %w",
			*account, run.RunID, errUsage)
	}
	var rows []audit.Record
	table := store.Table
	if store.Org {
		table = store.OrgTable
	}
	if *account != "" {
		rows, err = store.AccountRows(ctx, *account, run.RunID)
	} else {
		rows, err = store.Rows(ctx, run.RunID)
	}
	if err != nil {
		return src.tableError(err, table, "audit")
	}
	r := report.NewReport(src.stack, run, rows, *all || f.Findings())
	if *changes {
		r = report.ChangesReport(src.stack, run, rows)
	}
	if store.Org {
		units, err := store.Units(ctx, run.RunID)
		if err != nil {
			return src.tableError(err, store.UnitsTable, "units")
		}
		if r.Org, err = report.NewOrganization(units, *account); err != nil {
			return fmt.Errorf("-account %s: %w: %w", *account, err, errUsage)
		}
	}
	if err := report.WriteReport(stdout, r, f); err != nil {
		return err
	}
	switch {
	case !run.Complete:
		return fmt.Errorf("%w: %s", errIncomplete, r.Incomplete())
	case r.NotReportingLine() != "":
		return fmt.Errorf("%w: %s", errIncomplete, r.NotReportingLine())
	case *failOnFlagged && r.Flagged() > 0:
		checked, _ := r.Counts()
		return fmt.Errorf("%d of %d: %w", r.Flagged(), checked, errFlagged)
	}
	return nil
}

// noteAhead says on stderr that the latest run skipped a run dated after
// now, which a scheduled time ahead of the clock gives.
func noteAhead(stderr io.Writer, found report.Latest, now time.Time) {
	if found.Ahead == nil {
		return
	}
	at, _ := tables.ParseRunID(found.Ahead.RunID)
	fmt.Fprintf(stderr, "rotation-audit: skipped run %s: it is dated %s, after now (%s), so it is not the latest run\n",
		found.Ahead.RunID, at.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
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

// period is [from, to): a quarter, or -from and -to. Without -to, the
// period ends at end; without -from, it starts at start(to), so -to alone
// moves the default span back rather than complaining about a -from the
// user never gave. Errors quote the flags as given.
func (p *periodFlags) period(end time.Time, start func(end time.Time) time.Time) (time.Time, time.Time, error) {
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
	to := end
	var err error
	if p.to != "" {
		if to, err = parseDay(p.to, true); err != nil {
			return to, to, fmt.Errorf("-to: %w: %w", err, errUsage)
		}
	}
	from := start(to)
	if p.from != "" {
		if from, err = parseDay(p.from, false); err != nil {
			return from, to, fmt.Errorf("-from: %w: %w", err, errUsage)
		}
	}
	switch {
	case from.Before(to):
		return from, to, nil
	case p.to == "":
		return from, to, fmt.Errorf("-from %s is not before the end of the period, %s: give -to too: %w", p.from, to.Format(time.RFC3339), errUsage)
	}
	return from, to, fmt.Errorf("-from %s is not before -to %s: %w", p.from, p.to, errUsage)
}

// name names the period for a message: the quarter, or "the period".
func (p *periodFlags) name() string {
	if p.quarter != "" {
		return "quarter " + p.quarter
	}
	return "the period"
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

// quarterEnd is the end of the quarter now falls in.
func quarterEnd(now time.Time) time.Time {
	_, to, _ := report.Quarter(report.QuarterOf(now))
	return to
}

// quarterStart is the start of the quarter a period ending at end (end
// excluded) falls in.
func quarterStart(end time.Time) time.Time {
	from, _, _ := report.Quarter(report.QuarterOf(end.Add(-time.Nanosecond)))
	return from
}

func cmdHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	var src source
	src.register(fs)
	src.registerSchedule(fs)
	var p periodFlags
	p.register(fs, "the current quarter")
	format := formatFlag(fs)
	account := accountFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: rotation-audit history [-quarter 2026Q4 | -from DATE -to DATE] [flags]

The evidence for a period, for an auditor: per secret, the days it was seen and flagged,
the first and last day flagged, whether it is flagged now and its longest flagged
stretch; for the period, the runs the schedule expected against those recorded, with
the gaps listed at the times their runs were due.

Each day is judged by its last complete run, so a quarter costs about 92 Queries of the
audit table's run index (one per day), one Query of the run log per month and one for
the control's first run: never a read of every row, and never a Scan. The runs expected
come from the schedule's expression, read from EventBridge Scheduler (or -schedule),
from the control's start: the earlier of its first complete run and the schedule's
creation. A fire younger than -function-timeout plus the schedule's flexible window is
pending, not missing. A control that never completed a run, and a period that has not
started, exit with status 2.

For an organization hub (its runs are organization runs) each secret is its ARN, with
its account and region (the table and Markdown show them first; CSV appends
`+strings.Join(report.HistoryOrgColumns, ",")+`); the changes come from the organization
table's by-change index, and a day whose run had accounts not reporting costs one Query
of its units: their secrets are not seen that day. -account limits the secrets, and
each day's checked and flagged, to one account.`)
		fs.PrintDefaults()
	}
	f, err := parseRead(fs, args, stderr, format)
	if err != nil {
		return err
	}
	if err := checkAccount(*account); err != nil {
		return err
	}
	store, cfg, err := src.open(ctx)
	if err != nil {
		return err
	}
	now := src.now(ctx)()
	from, to, err := p.period(quarterEnd(now), quarterStart)
	if err != nil {
		return err
	}
	if !now.After(from) {
		return fmt.Errorf("%s has not started: it starts at %s, and it is %s: %w", p.name(), from.Format(time.RFC3339), now.UTC().Format(time.RFC3339), errUsage)
	}
	sched := src.scheduleOf(ctx, cfg, stderr)
	h, err := report.BuildHistory(ctx, store, src.stack, from, to, now, sched)
	if err != nil {
		return src.readError(err)
	}
	if *account != "" {
		if !h.Org {
			return fmt.Errorf("-account %s: the runs of %s are single-account runs; -account is for an organization hub (a stack deployed with Accounts): %w",
				*account, p.name(), errUsage)
		}
		if err := h.ForAccount(*account); err != nil {
			return fmt.Errorf("-account: %w: %w", err, errUsage)
		}
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
	f, err := parseRead(fs, args, stderr, format)
	if err != nil {
		return err
	}
	store, _, err := src.open(ctx)
	if err != nil {
		return err
	}
	from, to, err := p.period(src.now(ctx)().Add(time.Second), func(end time.Time) time.Time { return end.AddDate(0, 0, -7) })
	if err != nil {
		return err
	}
	runs, err := store.Runs(ctx, from, to)
	if err != nil {
		return src.readError(err)
	}
	return report.WriteRuns(stdout, runs, f)
}
