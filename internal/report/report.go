package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Report is the answer for one run: which secrets need rotation.
type Report struct {
	Stack string
	Run   audit.RunEntry
	// Rows are the secrets shown: those needing rotation, oldest first,
	// or with All every secret, the flagged ones first, or with Changes
	// the secrets that changed since the previous run.
	Rows    []audit.Record
	All     bool
	Changes bool
	// Gone are the run's tombstones, by name: the secrets in the previous
	// run and not in this one. They were not checked, so they are never
	// among Rows.
	Gone []audit.Record
	// Org is set for an organization run (see NewOrganization): its
	// accounts, reporting or not, and the account the report is limited
	// to. Rows then carry their account and region, and are distinct by
	// secret ARN. Nil for a single-account run.
	Org *Organization
}

// NewReport builds the report of a run from its rows.
func NewReport(stack string, run audit.RunEntry, rows []audit.Record, all bool) Report {
	return newReport(stack, run, rows, func(row audit.Record) bool { return all || row.Flagged() }, all, false)
}

// ChangesReport builds the report of what changed in a run since the
// previous complete run: the rows whose change is not unchanged (new,
// newly flagged, resolved), those whose secret changed without its
// status changing (a value put by hand, a tag edit: Record.Changed), and
// the gone secrets apart. Newly flagged come first, then new, resolved
// and the others, each by urgency.
func ChangesReport(stack string, run audit.RunEntry, rows []audit.Record) Report {
	r := newReport(stack, run, rows, func(row audit.Record) bool { return tables.Changed(row.Change) || row.Changed != "" }, false, true)
	slices.SortStableFunc(r.Rows, func(a, b audit.Record) int { return cmp.Compare(changeRank(a.Change), changeRank(b.Change)) })
	return r
}

// newReport keeps the rows shown, sorted by urgency, and the gone apart.
func newReport(stack string, run audit.RunEntry, rows []audit.Record, shown func(audit.Record) bool, all, changes bool) Report {
	r := Report{Stack: stack, Run: run, All: all, Changes: changes}
	for _, row := range rows {
		switch {
		case row.Gone():
			r.Gone = append(r.Gone, row)
		case shown(row):
			r.Rows = append(r.Rows, row)
		}
	}
	slices.SortFunc(r.Rows, byUrgency)
	slices.SortFunc(r.Gone, func(a, b audit.Record) int {
		return cmp.Or(cmp.Compare(a.SecretName, b.SecretName), cmp.Compare(a.SecretARN, b.SecretARN))
	})
	return r
}

// changeRank orders changes by news: newly flagged, new, resolved, then
// the rest.
func changeRank(change string) int {
	switch change {
	case tables.ChangeNewlyFlagged:
		return 0
	case tables.ChangeNew:
		return 1
	case tables.ChangeResolved:
		return 2
	}
	return 3
}

// Flagged is how many of the run's secrets need rotation: with Org
// limited to one account, that account's.
func (r Report) Flagged() int {
	_, flagged := r.Counts()
	return flagged
}

// Counts are the report's checked and flagged: the run's, or with Org
// limited to one account, that account's.
func (r Report) Counts() (checked, flagged int) {
	if r.Org == nil {
		return r.Run.Checked, r.Run.Flagged
	}
	return r.Org.counts(r.Run)
}

// byUrgency orders flagged rows before the others, oldest first, then by
// name, then by ARN (in organization mode one name may be several
// secrets), so the table reads from the worst down.
func byUrgency(a, b audit.Record) int {
	if a.Flagged() != b.Flagged() {
		if a.Flagged() {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(age(b), age(a)); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.SecretName, b.SecretName), cmp.Compare(a.SecretARN, b.SecretARN))
}

// age is a row's age in days; -1 for rows without one (owned, replicas).
func age(r audit.Record) int {
	if r.AgeDays == nil {
		return -1
	}
	return *r.AgeDays
}

// Ago says how long before now t was, in the largest whole unit.
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return itoa(n) + " " + unit + "s"
}
