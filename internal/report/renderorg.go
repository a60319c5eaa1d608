package report

// How a report of an organization run differs in each format: the rows'
// account and region, the accounts, and the accounts not reporting.

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// csvRows are a report's CSV records: the header, the secrets, the gone,
// and in organization mode the units not reporting.
func (r Report) csvRows() [][]string {
	head := ReportColumns
	if r.Org != nil {
		head = slices.Concat(ReportColumns, OrgReportColumns)
	}
	rows := [][]string{head}
	for _, row := range slices.Concat(r.Rows, r.Gone) {
		cells := reportRow(row, r.Run)
		if r.Org != nil {
			account, region := Where(row)
			cells = append(cells, account, region, r.Org.unitState(row), "")
		}
		rows = append(rows, cells)
	}
	if r.Org == nil {
		return rows
	}
	for _, a := range r.Org.NotReporting() {
		for _, u := range a.Missing() {
			cells := make([]string, len(head))
			set := func(column, value string) { cells[slices.Index(head, column)] = value }
			set("run_id", r.Run.RunID)
			set("checked_at", r.Run.CheckedAt)
			set("run_complete", strconv.FormatBool(r.Run.Complete))
			set("run_error", r.Run.Error)
			set("account_id", u.AccountID)
			set("region", u.Region)
			set("unit_state", u.State)
			set("unit_error", UnitReason(u.Error))
			rows = append(rows, cells)
		}
	}
	return rows
}

// where puts the organization's columns before a table's in organization
// mode; a single-account report's are unchanged.
func (r Report) where(head []string, account, region string) []string {
	if r.Org == nil {
		return head
	}
	return slices.Concat([]string{account, region}, head)
}

// whereOf is where for a row's cells: its account and region first.
func (r Report) whereOf(row audit.Record, cells []string) []string {
	account, region := Where(row)
	return r.where(cells, account, region)
}

// nameAt is the index of the secret's name in a table's cells.
func (r Report) nameAt() int {
	if r.Org == nil {
		return 0
	}
	return 2
}

// placed are rows for JSON: in organization mode each with its account
// and region, read from the ARN where the row does not carry them.
func (r Report) placed(rows []audit.Record) []audit.Record {
	if r.Org == nil {
		return nonNil(rows)
	}
	out := make([]audit.Record, len(rows))
	for i, row := range rows {
		row.AccountID, row.Region = Where(row)
		out[i] = row
	}
	return out
}

// runJSON is a run log entry as JSON: an organization run's with its unit
// counts even when they are zero ("units_failed": 0 says none failed).
func runJSON(e audit.RunEntry) any {
	if !e.Organization() {
		return e
	}
	return struct {
		audit.RunEntry
		UnitsExpected int    `json:"units_expected"`
		UnitsDone     int    `json:"units_done"`
		UnitsFailed   int    `json:"units_failed"`
		Accounts      int    `json:"accounts"`
		Regions       string `json:"regions"`
		Replicas      int    `json:"replicas"`
	}{e, e.UnitsExpected, e.UnitsDone, e.UnitsFailed, e.Accounts, e.Regions, e.Replicas}
}

// accountJSON is an account of an organization run as JSON.
type accountJSON struct {
	AccountID string `json:"account_id"`
	Reporting bool   `json:"reporting"`
	Checked   int    `json:"checked"`
	Flagged   int    `json:"flagged"`
	Reason    string `json:"reason,omitempty"`
	Units     []Unit `json:"units"`
}

// orgJSON is what a report's JSON says of an organization run.
type orgJSON struct {
	Account      string        `json:"account,omitempty"`
	Accounts     []accountJSON `json:"accounts"`
	NotReporting []accountJSON `json:"not_reporting"`
}

func (r Report) orgJSON() *orgJSON {
	if r.Org == nil {
		return nil
	}
	out := &orgJSON{Account: r.Org.Account, Accounts: []accountJSON{}, NotReporting: []accountJSON{}}
	for _, a := range r.Org.Accounts {
		j := accountJSON{AccountID: a.AccountID, Reporting: a.Reporting(), Checked: a.Checked, Flagged: a.Flagged, Reason: a.Reason(), Units: a.Units}
		out.Accounts = append(out.Accounts, j)
		if !j.Reporting {
			out.NotReporting = append(out.NotReporting, j)
		}
	}
	return out
}

// summary is the organization's part of a report's summary line, such as
// "3 accounts, 6 units, 2 failed: 1 account not reporting".
func (o *Organization) summary(run audit.RunEntry) string {
	missing := len(o.NotReporting())
	what := plural(missing, "account") + " not reporting"
	if missing == 0 {
		what = "every account reporting"
	}
	if o.Account != "" {
		if missing == 0 {
			return "reporting"
		}
		return "not reporting"
	}
	return fmt.Sprintf("%s, %s, %d failed: %s", plural(len(o.Accounts), "account"), plural(run.UnitsExpected, "unit"), run.UnitsFailed, what)
}

// tableOrg writes an organization run's accounts and those not reporting
// as tables; nothing for a single-account run.
func (r Report) tableOrg(w io.Writer) error {
	if r.Org == nil {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tUNITS DONE\tCHECKED\tFLAGGED\tREPORTING")
	for _, a := range r.Org.Accounts {
		fmt.Fprintln(tw, tableRow(a.AccountID, unitsDone(a), strconv.Itoa(a.Checked), strconv.Itoa(a.Flagged), yesNo(a.Reporting())))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	missing := r.Org.NotReporting()
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintln(tw, "ACCOUNTS NOT REPORTING (their secrets are missing)\tWHY")
	for _, a := range missing {
		fmt.Fprintln(tw, tableRow(a.AccountID, a.Reason()))
	}
	return tw.Flush()
}

// markdownOrg writes an organization run's accounts and those not
// reporting as Markdown sections; nothing for a single-account run.
func (r Report) markdownOrg(w io.Writer) error {
	if r.Org == nil {
		return nil
	}
	fmt.Fprintf(w, "\n## Accounts\n\n")
	rows := [][]string{{"Account", "Units done", "Checked", "Flagged", "Reporting"}}
	for _, a := range r.Org.Accounts {
		rows = append(rows, []string{a.AccountID, unitsDone(a), strconv.Itoa(a.Checked), strconv.Itoa(a.Flagged), yesNo(a.Reporting())})
	}
	if err := writeMarkdown(w, rows); err != nil {
		return err
	}
	missing := r.Org.NotReporting()
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n## Accounts not reporting\n\nNo result for this run, so their secrets are missing from this report.\n\n")
	rows = [][]string{{"Account", "Why"}}
	for _, a := range missing {
		rows = append(rows, []string{a.AccountID, a.Reason()})
	}
	return writeMarkdown(w, rows)
}

// unitsDone is "2 of 2": an account's units done of those expected.
func unitsDone(a Account) string {
	return strconv.Itoa(len(a.Units)-len(a.Missing())) + " of " + strconv.Itoa(len(a.Units))
}

// NotReportingLine says on one line which accounts are not reporting, for
// a command's stderr; empty when every account reports or the run is not
// an organization run's.
func (r Report) NotReportingLine() string {
	if r.Org == nil {
		return ""
	}
	var parts []string
	for _, a := range r.Org.NotReporting() {
		parts = append(parts, a.AccountID+" ("+a.Reason()+")")
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("%s not reporting in run %s, so their secrets are missing from this report: %s",
		plural(len(parts), "account"), r.Run.RunID, strings.Join(parts, "; "))
}
