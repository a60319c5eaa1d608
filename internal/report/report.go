package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// Report is the answer for one run: which secrets need rotation.
type Report struct {
	Stack string
	Run   audit.RunEntry
	// Rows are the secrets shown: those needing rotation, oldest first,
	// or with All every secret, the flagged ones first.
	Rows []audit.Record
	All  bool
}

// NewReport builds the report of a run from its rows.
func NewReport(stack string, run audit.RunEntry, rows []audit.Record, all bool) Report {
	r := Report{Stack: stack, Run: run, All: all}
	for _, row := range rows {
		if all || row.Flagged() {
			r.Rows = append(r.Rows, row)
		}
	}
	slices.SortFunc(r.Rows, byUrgency)
	return r
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
