package orgscenario

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rotation-audit/rotation-audit/internal/report"
)

// Answer reads a run back through the read side, as rotation-audit report
// -all and the dashboard read it: the run's entry, then, the entry saying
// it is an organization run, its rows from the organization table and its
// units, and the report of every secret with the organization's accounts.
func Answer(ctx context.Context, db report.Querier, hub Hub, stack, runID string) (report.Report, error) {
	store := &report.Store{DB: db, RunsTable: hub.Runs, OrgTable: hub.Rows, UnitsTable: hub.Units}
	run, err := store.Run(ctx, runID)
	if err != nil {
		return report.Report{}, err
	}
	store = store.ForRun(run)
	if !store.Org {
		return report.Report{}, fmt.Errorf("run %s is not an organization run: its entry has no units", runID)
	}
	rows, err := store.Rows(ctx, runID)
	if err != nil {
		return report.Report{}, err
	}
	units, err := store.Units(ctx, runID)
	if err != nil {
		return report.Report{}, err
	}
	r := report.NewReport(stack, run, rows, true)
	r.Org, err = report.NewOrganization(units, "")
	return r, err
}

// CheckAnswer names each way the report differs from scenario E's answer:
// a managed secret of a reporting account without its row (account,
// region and name) or with two, a row that should not be (a replica, an
// account not reporting), and the accounts not reporting, which must be
// exactly denied, each with AccessDenied.
func CheckAnswer(r report.Report, secrets []Secret, denied []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if r.Org == nil {
		return []string{"the report is not an organization's: no accounts"}
	}
	want := map[string]bool{}
	for _, s := range secrets {
		if s.Managed && !slices.Contains(denied, s.Account) {
			want[s.Account+"/"+s.Region+"/"+s.Name] = true
		}
	}
	got := map[string]int{}
	for _, row := range r.Rows {
		account, region := report.Where(row)
		if account == "" || region == "" {
			bad("report row %s has no account or region", row.SecretARN)
		}
		got[account+"/"+region+"/"+row.SecretName]++
	}
	for _, k := range sortedKeys(want) {
		switch got[k] {
		case 0:
			bad("the report has no row for %s", k)
		case 1:
		default:
			bad("the report has %d rows for %s", got[k], k)
		}
	}
	for _, k := range sortedKeys(got) {
		if !want[k] {
			bad("the report has an unexpected row for %s (not managed, a replica, or an account not reporting)", k)
		}
	}
	var missing []string
	for _, a := range r.Org.NotReporting() {
		missing = append(missing, a.AccountID)
		if !strings.Contains(a.Reason(), "AccessDenied") {
			bad("account %s is not reporting for another reason than AccessDenied: %s", a.AccountID, a.Reason())
		}
	}
	if want := slices.Sorted(slices.Values(denied)); !slices.Equal(missing, want) {
		bad("the report lists %v as not reporting, want %v", missing, want)
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
