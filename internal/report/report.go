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
	slices.SortFunc(r.Gone, func(a, b audit.Record) int { return cmp.Compare(a.SecretName, b.SecretName) })
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

// Flagged is how many of the run's secrets need rotation.
func (r Report) Flagged() int { return r.Run.Flagged }

// byUrgency orders flagged rows before the others, oldest first, then by
// name, so the table reads from the worst down.
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
	return cmp.Compare(a.SecretName, b.SecretName)
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
