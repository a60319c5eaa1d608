package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// Format is an output format.
type Format string

// The formats every command and download offers.
const (
	Table    Format = "table"
	CSV      Format = "csv"
	JSON     Format = "json"
	Markdown Format = "markdown"
)

// The finding formats, which only a report offers: one finding per secret
// of the run, what Security Hub or a security lake reads.
const (
	// OCSF is OCSF 1.6.0 Compliance Findings, one JSON object a line.
	OCSF Format = "ocsf"
	// ASFF is a JSON array of Security Hub findings, ready for
	// `aws securityhub batch-import-findings --findings file://...`.
	ASFF Format = "asff"
)

// Formats lists the formats, for help and errors.
var Formats = []Format{Table, CSV, JSON, Markdown}

// FindingFormats lists the formats only a report offers.
var FindingFormats = []Format{OCSF, ASFF}

// ParseFormat reads a format's name; "md" is Markdown.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Table, CSV, JSON, Markdown:
		return f, nil
	case "md":
		return Markdown, nil
	}
	return "", fmt.Errorf("format %q: want table, csv, json or markdown", s)
}

// ParseReportFormat reads the name of a report's format: any of Formats,
// or a finding format.
func ParseReportFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case OCSF, ASFF:
		return f, nil
	}
	f, err := ParseFormat(s)
	if err != nil {
		return "", fmt.Errorf("format %q: want table, csv, json, markdown, ocsf or asff", s)
	}
	return f, nil
}

// Findings reports whether f is a finding format, whose report lists every
// secret of the run, whether it needs rotation or not.
func (f Format) Findings() bool { return f == OCSF || f == ASFF }

// Ext is the file name extension of a format's downloads.
func (f Format) Ext() string {
	switch f {
	case Markdown:
		return "md"
	case Table:
		return "txt"
	case OCSF:
		return "ocsf.jsonl"
	case ASFF:
		return "asff.json"
	}
	return string(f)
}

// ReportColumns are the CSV columns of a report: the first eleven are the
// documented contract, in this order; more may follow. run_complete and
// run_error repeat the run's on every row, so a spreadsheet of an
// incomplete run says so, and so do the run's counts of what changed
// since the previous run (run_new to run_gone). The gone secrets'
// tombstones follow the secrets, with change "gone" and no status.
var ReportColumns = []string{
	"secret_name", "status", "reason", "age_days", "basis", "basis_date", "rotation_enabled", "owning_service",
	"secret_arn", "run_id", "checked_at",
	"max_age_days", "rotation_interval_days", "next_rotation_date", "rotation_overdue", "last_accessed_date", "unused", "primary_region",
	"run_complete", "run_error",
	"change", "changed", "first_seen",
	"run_previous_run_id", "run_new", "run_newly_flagged", "run_resolved", "run_gone",
}

// OrgReportColumns follow ReportColumns in an organization run's report,
// so its header still starts as documented: the row's account and region,
// and the state of the unit (account and region) it came from, "done",
// or "failed" for the partial rows of a unit that failed. After the
// secrets and the gone come the units not reporting, one line each, with
// only the run's cells and these four set: unit_state "failed" or
// "pending", and unit_error the reason.
var OrgReportColumns = []string{"account_id", "region", "unit_state", "unit_error"}

// reportRow is a row's cells, in ReportColumns' order.
func reportRow(r audit.Record, run audit.RunEntry) []string {
	return []string{
		r.SecretName, string(r.Status), string(r.Reason), ageCell(r), string(r.Basis), r.BasisDate,
		strconv.FormatBool(r.RotationEnabled), r.OwningService, r.SecretARN, r.RunID, r.CheckedAt,
		strconv.Itoa(r.MaxAgeDays), intCell(r.RotationIntervalDays), r.NextRotationDate,
		strconv.FormatBool(r.RotationOverdue), r.LastAccessedDate, strconv.FormatBool(r.Unused), r.PrimaryRegion,
		strconv.FormatBool(run.Complete), run.Error,
		r.Change, r.Changed, r.FirstSeen,
		run.PreviousRunID, strconv.Itoa(run.New), strconv.Itoa(run.NewlyFlagged), strconv.Itoa(run.Resolved), strconv.Itoa(run.Gone),
	}
}

// WriteReport writes a report in the format. Every format says when the
// run is incomplete, and why: the table and Markdown in a line before the
// secrets, JSON in "complete" and "warning", CSV in the run_complete and
// run_error columns. Every format says what changed since the previous
// run (Since) and lists the gone secrets apart from the checked ones.
//
// The finding formats (OCSF, ASFF) write one finding per row and nothing
// else, so they cannot say it: the command says so on stderr and in its
// exit status.
func WriteReport(w io.Writer, r Report, f Format) error {
	switch f {
	case OCSF, ASFF:
		return writeFindings(w, slices.Concat(r.Rows, r.Gone), f)
	case CSV:
		return writeCSV(w, r.csvRows())
	case JSON:
		return writeJSON(w, struct {
			Stack        string         `json:"stack"`
			Run          any            `json:"run"`
			All          bool           `json:"all"`
			Changes      bool           `json:"changes"`
			Complete     bool           `json:"complete"`
			Warning      string         `json:"warning,omitempty"`
			Since        string         `json:"since,omitempty"`
			Secrets      []audit.Record `json:"secrets"`
			Gone         []audit.Record `json:"gone"`
			Organization *orgJSON       `json:"organization,omitempty"`
		}{r.Stack, runJSON(r.Run), r.All, r.Changes, r.Run.Complete, r.Incomplete(), r.Since(), r.placed(r.Rows), r.placed(r.Gone), r.orgJSON()})
	case Markdown:
		fmt.Fprintf(w, "# Rotation report: %s\n\n", mdText(r.Stack))
		if r.Incomplete() != "" {
			fmt.Fprintf(w, "> **Incomplete run:** %s\n\n", mdText(r.Incomplete()))
		}
		fmt.Fprintf(w, "%s\n\n", mdText(r.Summary()))
		if since := r.Since(); since != "" {
			fmt.Fprintf(w, "%s\n\n", mdText(upper(since)))
		}
		if len(r.Rows) == 0 {
			fmt.Fprintln(w, r.none())
		} else {
			head := r.where([]string{"Secret", "Status", "Age (days)", "Basis", "Basis date", "Rotation", "Owner"}, "Account", "Region")
			if r.Changes {
				head = slices.Insert(head, r.nameAt()+1, "Change", "What changed")
			}
			rows := [][]string{head}
			for _, row := range r.Rows {
				cells := r.whereOf(row, []string{row.SecretName, string(row.Status), ageCell(row), string(row.Basis), day(row.BasisDate), onOff(row.RotationEnabled), row.OwningService})
				if r.Changes {
					cells = slices.Insert(cells, r.nameAt()+1, row.Change, row.Changed)
				}
				rows = append(rows, cells)
			}
			if err := writeMarkdown(w, rows); err != nil {
				return err
			}
		}
		if len(r.Gone) > 0 {
			fmt.Fprintf(w, "\n## Gone since the previous run\n\nIn the previous run, not in this one (deleted, or no longer tagged): not checked.\n\n")
			rows := [][]string{r.where([]string{"Secret", "First seen"}, "Account", "Region")}
			for _, row := range r.Gone {
				rows = append(rows, r.whereOf(row, []string{row.SecretName, row.FirstSeen}))
			}
			if err := writeMarkdown(w, rows); err != nil {
				return err
			}
		}
		return r.markdownOrg(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.Incomplete() != "" {
		fmt.Fprintln(tw, "INCOMPLETE RUN: "+r.Incomplete())
	}
	switch {
	case len(r.Rows) == 0:
		fmt.Fprintln(tw, r.none())
	case r.Changes:
		fmt.Fprintln(tw, strings.Join(r.where([]string{"SECRET", "CHANGE", "WHAT CHANGED", "STATUS", "AGE", "BASIS", "BASIS DATE", "ROTATION", "OWNER"}, "ACCOUNT", "REGION"), "\t"))
		for _, row := range r.Rows {
			fmt.Fprintln(tw, tableRow(r.whereOf(row, []string{row.SecretName, row.Change, cmp.Or(row.Changed, "-"), string(row.Status), days(row), string(row.Basis), day(row.BasisDate), onOff(row.RotationEnabled), row.OwningService})...))
		}
	default:
		fmt.Fprintln(tw, strings.Join(r.where([]string{"SECRET", "STATUS", "AGE", "BASIS", "BASIS DATE", "ROTATION", "OWNER"}, "ACCOUNT", "REGION"), "\t"))
		for _, row := range r.Rows {
			fmt.Fprintln(tw, tableRow(r.whereOf(row, []string{row.SecretName, string(row.Status), days(row), string(row.Basis), day(row.BasisDate), onOff(row.RotationEnabled), row.OwningService})...))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Gone) > 0 {
		fmt.Fprintln(tw, strings.Join(r.where([]string{"GONE SINCE THE PREVIOUS RUN (not checked)", "FIRST SEEN"}, "ACCOUNT", "REGION"), "\t"))
		for _, row := range r.Gone {
			fmt.Fprintln(tw, tableRow(r.whereOf(row, []string{row.SecretName, row.FirstSeen})...))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if err := r.tableOrg(w); err != nil {
		return err
	}
	fmt.Fprintln(w, cell(r.Summary()))
	if since := r.Since(); since != "" {
		fmt.Fprintln(w, cell(since))
	}
	return nil
}

// Since is the run's line on what changed since the previous complete
// run, such as "since the previous run (run-1798366682000): 0 new, 2
// newly flagged, 1 resolved, 1 gone". It is empty for a run that
// recorded no comparison: one written before runs compared themselves.
func (r Report) Since() string {
	run := r.Run
	switch {
	case run.PreviousRunID != "":
		return fmt.Sprintf("since the previous run (%s): %d new, %d newly flagged, %d resolved, %d gone",
			run.PreviousRunID, run.New, run.NewlyFlagged, run.Resolved, run.Gone)
	case run.New > 0:
		return fmt.Sprintf("since the previous run: none, this is the first complete run of the stack, so all %d are new (%d need rotation)",
			run.New, run.NewFlagged)
	}
	return ""
}

// upper capitalizes the first letter of a line.
func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Summary is the report's one-line summary.
func (r Report) Summary() string {
	run := "run " + r.Run.RunID
	if !r.Run.Complete {
		run += " (incomplete)"
	}
	if r.Org == nil {
		return fmt.Sprintf("%s at %s: %d checked, %d need rotation (threshold %d days)",
			run, r.Run.CheckedAt, r.Run.Checked, r.Run.Flagged, r.Run.MaxAgeDays)
	}
	checked, flagged := r.Counts()
	if r.Org.Account != "" {
		run += ", account " + r.Org.Account
	}
	return fmt.Sprintf("%s at %s: %d checked, %d need rotation (threshold %d days); %s",
		run, r.Run.CheckedAt, checked, flagged, r.Run.MaxAgeDays, r.Org.summary(r.Run))
}

// Incomplete says, on one line, that the run did not complete and why;
// it is empty for a complete run.
func (r Report) Incomplete() string {
	if r.Run.Complete {
		return ""
	}
	why := cell(r.Run.Error)
	if why == "" {
		why = "no error was recorded"
	}
	return fmt.Sprintf("run %s did not complete, so secrets it did not check or record are missing from this report (its error: %s)", r.Run.RunID, why)
}

// none is what a report without rows says.
func (r Report) none() string {
	if r.Changes {
		if r.Since() == "" {
			return "This run did not record what changed: it predates the comparison with the previous run."
		}
		return "No secret changed since the previous run."
	}
	if !r.Run.Complete {
		return "No secret the run checked needs rotation, but it did not check them all."
	}
	return "No secret needs rotation."
}

// HistoryColumns are the CSV columns of a history, one row per secret.
var HistoryColumns = []string{"secret_name", "days_seen", "days_flagged", "first_flagged", "last_flagged",
	"flagged_now", "flagged_since", "longest_flagged_days"}

// HistoryOrgColumns follow HistoryColumns in an organization history, so
// its header still starts as documented: the secret's account, region and
// ARN (one name may be several secrets).
var HistoryOrgColumns = []string{"account_id", "region", "secret_arn"}

// WriteHistory writes a history in the format. An organization history
// (Org) adds each secret's account and region in every format: CSV the
// HistoryOrgColumns, JSON their fields, the table and Markdown two columns
// first.
func WriteHistory(w io.Writer, h History, f Format) error {
	where := func(s SecretHistory, cells []string) []string {
		if !h.Org {
			return cells
		}
		return slices.Concat([]string{s.AccountID, s.Region}, cells)
	}
	head := func(cells ...string) []string {
		return where(SecretHistory{AccountID: cells[0], Region: cells[1]}, cells[2:])
	}
	switch f {
	case CSV:
		header := HistoryColumns
		if h.Org {
			header = slices.Concat(HistoryColumns, HistoryOrgColumns)
		}
		rows := [][]string{header}
		for _, s := range h.Secrets {
			row := []string{s.Name, strconv.Itoa(s.DaysSeen), strconv.Itoa(s.DaysFlagged), date(s.FirstFlagged),
				date(s.LastFlagged), strconv.FormatBool(s.FlaggedNow), date(s.FlaggedSince), strconv.Itoa(s.LongestFlagged)}
			if h.Org {
				row = append(row, s.AccountID, s.Region, s.ARN)
			}
			rows = append(rows, row)
		}
		return writeCSV(w, rows)
	case JSON:
		return writeJSON(w, historyJSON(h))
	case Markdown:
		fmt.Fprintf(w, "# Rotation evidence: %s, %s\n\n", h.Stack, h.Period())
		for _, line := range h.Lines() {
			fmt.Fprintf(w, "- %s\n", line)
		}
		fmt.Fprintln(w)
		rows := [][]string{head("Account", "Region", "Secret", "Days seen", "Days flagged", "First flagged", "Last flagged", "Flagged now", "Longest flagged")}
		for _, s := range h.Secrets {
			rows = append(rows, where(s, []string{s.Name, strconv.Itoa(s.DaysSeen), strconv.Itoa(s.DaysFlagged), date(s.FirstFlagged),
				date(s.LastFlagged), yesNo(s.FlaggedNow), strconv.Itoa(s.LongestFlagged) + " days"}))
		}
		return writeMarkdown(w, rows)
	}
	fmt.Fprintf(w, "Rotation evidence for %s, %s\n", h.Stack, h.Period())
	for _, line := range h.Lines() {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head("ACCOUNT", "REGION", "SECRET", "DAYS SEEN", "DAYS FLAGGED", "FIRST FLAGGED", "LAST FLAGGED", "FLAGGED NOW", "LONGEST"), "\t"))
	for _, s := range h.Secrets {
		fmt.Fprintln(tw, tableRow(where(s, []string{s.Name, strconv.Itoa(s.DaysSeen), strconv.Itoa(s.DaysFlagged), cmp.Or(date(s.FirstFlagged), "-"),
			cmp.Or(date(s.LastFlagged), "-"), yesNo(s.FlaggedNow), strconv.Itoa(s.LongestFlagged) + "d"})...))
	}
	return tw.Flush()
}

// unitsCell is an organization run's units, such as "6 of 6, 2 failed":
// finished (done or failed) of expected; "-" for a single-account run.
func unitsCell(r audit.RunEntry) string {
	if !r.Organization() {
		return "-"
	}
	return fmt.Sprintf("%d of %d, %d failed", r.UnitsDone, r.UnitsExpected, r.UnitsFailed)
}

// Period names the history's period.
func (h History) Period() string {
	last := h.To.AddDate(0, 0, -1)
	p := fmt.Sprintf("%s to %s", date(h.From), date(last))
	if h.Account != "" {
		p = "account " + h.Account + ", " + p
	}
	if from, to, err := Quarter(QuarterOf(h.From)); err == nil && from.Equal(h.From) && to.Equal(h.To) {
		p += " (" + QuarterOf(h.From) + ")"
	}
	if h.Until.Before(h.To) {
		p += ", so far (until " + h.Until.Format(time.RFC3339) + ")"
	}
	return p
}

// Lines are the period's summary, for people: did the control run all the
// time, and what is flagged now.
func (h History) Lines() []string {
	if h.FirstComplete.IsZero() {
		return []string{"the control has never completed a run for stack " + h.Stack}
	}
	flaggedNow := 0
	for _, s := range h.Secrets {
		if s.FlaggedNow {
			flaggedNow++
		}
	}
	judged := 0
	for _, d := range h.Days {
		if d.RunID != "" {
			judged++
		}
	}
	pending := ""
	if h.Pending > 0 {
		pending = fmt.Sprintf(", %d pending (due within the last %s: it may still be running)", h.Pending, h.Grace)
	}
	lines := []string{
		fmt.Sprintf("runs: %d expected from the schedule %s, %d recorded (%s)%s; %d manual, %d failed",
			h.Expected, h.Schedule, h.Recorded, percent(h.Recorded, h.Expected), pending, h.Manual, h.Failed),
	}
	started := "the control started at " + stamp(h.ControlStart) + h.startedBy()
	before := !h.ControlStart.Before(h.Until)
	switch {
	case before:
		lines = append(lines, "no run is expected in the period: "+started+", after it")
	case h.ControlStart.After(h.From):
		lines = append(lines, started+": runs are expected from then on")
	default:
		lines = append(lines, started+", before the period")
	}
	lines = append(lines,
		fmt.Sprintf("days judged: %d of %d (each by its last complete run)", judged, len(h.Days)),
		fmt.Sprintf("secrets: %d seen, %d need rotation now", len(h.Secrets), flaggedNow),
	)
	switch {
	case before:
		return append(lines, "gaps: none, the control did not exist yet")
	case h.Expected == 0:
		return append(lines, "gaps: none, no run was due yet")
	case len(h.Gaps) == 0:
		return append(lines, "gaps: none, the control ran every time it should have")
	}
	for _, g := range h.Gaps {
		lines = append(lines, fmt.Sprintf("gap: %s missing, due from %s to %s", plural(g.Missing, "run"), stamp(g.From), stamp(g.To)))
	}
	return lines
}

// startedBy says what the control's start is: the schedule's creation or
// its first complete run, and whether an outage before that run could be
// seen.
func (h History) startedBy() string {
	switch {
	case h.ControlStart.Equal(h.ScheduleCreated) && h.ScheduleCreated.Before(h.FirstComplete):
		return ", when its schedule was created (first complete run " + stamp(h.FirstComplete) + ")"
	case h.ScheduleCreated.IsZero():
		return ", its first complete run (the schedule's creation date is unknown: an outage before that run cannot be seen)"
	}
	return ", its first complete run"
}

// historyJSON is a history as JSON: dates as dates, statuses per day.
func historyJSON(h History) any {
	type secret struct {
		Name           string         `json:"secret_name"`
		DaysSeen       int            `json:"days_seen"`
		DaysFlagged    int            `json:"days_flagged"`
		FirstFlagged   string         `json:"first_flagged,omitempty"`
		LastFlagged    string         `json:"last_flagged,omitempty"`
		FlaggedNow     bool           `json:"flagged_now"`
		FlaggedSince   string         `json:"flagged_since,omitempty"`
		LongestFlagged int            `json:"longest_flagged_days"`
		Status         []audit.Status `json:"status_by_day"`
		AccountID      string         `json:"account_id,omitempty"` // organization mode
		Region         string         `json:"region,omitempty"`
		ARN            string         `json:"secret_arn,omitempty"`
	}
	type day struct {
		Date    string `json:"date"`
		RunID   string `json:"run_id,omitempty"`
		Checked int    `json:"checked"`
		Flagged int    `json:"flagged"`
	}
	out := struct {
		Stack    string    `json:"stack"`
		From     string    `json:"from"`
		To       string    `json:"to"`
		Until    time.Time `json:"until"`
		Schedule string    `json:"schedule"`
		Start    string    `json:"control_start"`              // the earlier of the two below
		Created  string    `json:"schedule_created,omitempty"` // empty when unknown
		First    string    `json:"first_complete_run"`         // ever, not only in the period
		Expected int       `json:"runs_expected"`
		Recorded int       `json:"runs_recorded"`
		Pending  int       `json:"runs_pending"`
		Grace    float64   `json:"pending_within_seconds"`
		Manual   int       `json:"runs_manual"`
		Failed   int       `json:"runs_failed"`
		Gaps     []Gap     `json:"gaps"`
		Days     []day     `json:"days"`
		Secrets  []secret  `json:"secrets"`
		Org      bool      `json:"organization,omitempty"`
		Account  string    `json:"account,omitempty"`
	}{Org: h.Org, Account: h.Account, Stack: h.Stack, From: date(h.From), To: date(h.To), Until: h.Until, Schedule: h.Schedule,
		Start: stamp(h.ControlStart), Created: stamp(h.ScheduleCreated), First: stamp(h.FirstComplete),
		Expected: h.Expected, Recorded: h.Recorded, Pending: h.Pending, Grace: h.Grace.Seconds(), Manual: h.Manual, Failed: h.Failed, Gaps: append([]Gap{}, h.Gaps...), Days: []day{}, Secrets: []secret{}}
	for _, d := range h.Days {
		out.Days = append(out.Days, day{date(d.Date), d.RunID, d.Checked, d.Flagged})
	}
	for _, s := range h.Secrets {
		out.Secrets = append(out.Secrets, secret{s.Name, s.DaysSeen, s.DaysFlagged, date(s.FirstFlagged), date(s.LastFlagged),
			s.FlaggedNow, date(s.FlaggedSince), s.LongestFlagged, s.Status, s.AccountID, s.Region, s.ARN})
	}
	return out
}

// RunColumns are the CSV columns of the run log; the last ones are what
// changed since the previous complete run.
var RunColumns = []string{"run_id", "checked_at", "scheduled_time", "complete", "checked", "flagged", "written",
	"unaudited", "looked_up", "duration_ms", "max_age_days", "error",
	"previous_run_id", "new", "new_flagged", "newly_flagged", "resolved", "gone"}

// RunOrgColumns follow RunColumns when any run listed is an organization
// run: its units expected, finished (done or failed) and failed, and its
// accounts; empty for a single-account run.
var RunOrgColumns = []string{"units_expected", "units_done", "units_failed", "accounts"}

// WriteRuns writes the run log in the format. When any run is an
// organization run, every format adds its units: CSV the RunOrgColumns,
// the table and Markdown a units column ("6 of 6, 2 failed").
func WriteRuns(w io.Writer, runs []audit.RunEntry, f Format) error {
	org := slices.ContainsFunc(runs, audit.RunEntry.Organization)
	cells := func(r audit.RunEntry) []string {
		c := []string{r.RunID, r.CheckedAt, r.ScheduledTime, strconv.FormatBool(r.Complete), strconv.Itoa(r.Checked),
			strconv.Itoa(r.Flagged), strconv.Itoa(r.Written), strconv.Itoa(r.Unaudited), strconv.Itoa(r.LookedUp),
			strconv.FormatInt(r.DurationMS, 10), strconv.Itoa(r.MaxAgeDays), r.Error,
			r.PreviousRunID, strconv.Itoa(r.New), strconv.Itoa(r.NewFlagged), strconv.Itoa(r.NewlyFlagged), strconv.Itoa(r.Resolved), strconv.Itoa(r.Gone)}
		switch {
		case !org:
			return c
		case !r.Organization():
			return append(c, "", "", "", "")
		}
		return append(c, strconv.Itoa(r.UnitsExpected), strconv.Itoa(r.UnitsDone), strconv.Itoa(r.UnitsFailed), strconv.Itoa(r.Accounts))
	}
	// withUnits inserts a run's units after its flagged count.
	withUnits := func(c []string, r audit.RunEntry) []string {
		if !org {
			return c
		}
		return slices.Insert(c, 5, unitsCell(r))
	}
	switch f {
	case CSV:
		head := RunColumns
		if org {
			head = slices.Concat(RunColumns, RunOrgColumns)
		}
		rows := [][]string{head}
		for _, r := range runs {
			rows = append(rows, cells(r))
		}
		return writeCSV(w, rows)
	case JSON:
		out := make([]any, len(runs))
		for i, r := range runs {
			out[i] = runJSON(r)
		}
		return writeJSON(w, out)
	case Markdown:
		head := []string{"Run", "Checked at", "Complete", "Checked", "Flagged", "Unaudited", "Duration (ms)", "Error"}
		if org {
			head = slices.Insert(head, 5, "Units")
		}
		rows := [][]string{head}
		for _, r := range runs {
			rows = append(rows, withUnits([]string{r.RunID, r.CheckedAt, yesNo(r.Complete), strconv.Itoa(r.Checked), strconv.Itoa(r.Flagged),
				strconv.Itoa(r.Unaudited), strconv.FormatInt(r.DurationMS, 10), r.Error}, r))
		}
		return writeMarkdown(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"RUN", "CHECKED AT", "COMPLETE", "CHECKED", "FLAGGED", "UNAUDITED", "DURATION", "ERROR"}
	if org {
		head = slices.Insert(head, 5, "UNITS")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range runs {
		fmt.Fprintln(tw, tableRow(withUnits([]string{r.RunID, r.CheckedAt, yesNo(r.Complete), strconv.Itoa(r.Checked), strconv.Itoa(r.Flagged),
			strconv.Itoa(r.Unaudited), strconv.FormatInt(r.DurationMS, 10) + "ms", r.Error}, r)...))
	}
	fmt.Fprintf(tw, "%d runs\n", len(runs))
	return tw.Flush()
}
