package report

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// referenceHistory is the history as it was read before rows carried
// their change: each judged day's run read in full, a tombstone (a row
// without a status) skipped. The history read from the changes must
// equal it.
func referenceHistory(ctx context.Context, s *Store, stack string, from, to, now time.Time, sched Schedule) (History, error) {
	h, err := ReadPeriod(ctx, s, stack, from, to, now, sched)
	if err != nil {
		return h, err
	}
	secrets := map[string]*SecretHistory{}
	for i, day := range h.Days {
		if day.RunID == "" {
			continue
		}
		err := s.EachRow(ctx, day.RunID, func(r audit.Record) {
			if r.Status == "" {
				return // gone: not seen that day
			}
			sh, ok := secrets[r.SecretName]
			if !ok {
				sh = &SecretHistory{Name: r.SecretName, Status: make([]audit.Status, len(h.Days))}
				secrets[r.SecretName] = sh
			}
			sh.Status[i] = r.Status
		})
		if err != nil {
			return h, err
		}
	}
	last := h.lastJudged()
	for _, sh := range secrets {
		sh.summarize(h.Days, last)
		h.Secrets = append(h.Secrets, *sh)
	}
	slices.SortFunc(h.Secrets, bySeverity)
	return h, nil
}

// generated is a generated stack: its tables, the clock, and what
// happened in the period, to check that a test exercised it.
type generated struct {
	log     *fakeLog
	now     time.Time
	changes map[string]int // change rows in the period by change, of complete runs
	failed  int            // failed runs in the period
	secrets int            // secrets listed in the period
	rows    int            // rows in the period
	runs    int            // run log entries in the period
}

// generate writes a stack's runs and rows, as the write side would, from
// 1 September 2026 to a random day in or after 2026Q4: a run every six
// hours, with outages; secrets created (some already old), rotated, tag
// edited (no change of status) and deleted (a tombstone in the next
// complete run), some deleted then created again and some listed by one
// run only; failed runs that
// wrote part of their rows (and their changes, which no complete run
// counts); manual runs; a run dated after now. With migrate, the write
// side records changes only from a random day of the quarter on: the
// runs before carry no change and log no counts.
func generate(seed uint64, migrate bool) generated {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	from, to := q4[0], q4[1]
	now := from.AddDate(0, 0, 20+rng.IntN(100)).Add(time.Duration(rng.IntN(24*60)) * time.Minute)
	aware := time.Time{}
	if migrate {
		aware = from.AddDate(0, 0, rng.IntN(60))
	}
	g := generated{log: &fakeLog{rows: map[string][]fakeRow{}, page: 7}, now: now, changes: map[string]int{}}
	inPeriod := func(t time.Time) bool { return !t.Before(from) && t.Before(to) && !t.After(now) }
	valueDate := map[string]time.Time{} // the secrets that exist, and the date of each one's value
	names := func() []string {
		return slices.Sorted(func(yield func(string) bool) {
			for n := range valueDate {
				_ = yield(n)
			}
		})
	}
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for i := range 40 {
		valueDate[fmt.Sprintf("s%03d", i)] = start.AddDate(0, 0, -rng.IntN(40))
	}
	next := 40
	listed := map[string]bool{}
	prev := map[string]audit.Status{} // the previous complete run's
	outage := 0
	for t := start; !t.After(now.Add(30 * time.Hour)); t = t.Add(6 * time.Hour) {
		// The world changes between runs.
		if rng.IntN(3) == 0 {
			name := fmt.Sprintf("s%03d", next)
			next++
			if rng.IntN(4) == 0 && len(listed) > 0 {
				name = slices.Sorted(func(yield func(string) bool) {
					for n := range listed {
						_ = yield(n)
					}
				})[rng.IntN(len(listed))]
			}
			valueDate[name] = t.AddDate(0, 0, -rng.IntN(45)) // created now, or imported with an old value
		}
		if all := names(); rng.IntN(8) == 0 && len(all) > 1 {
			delete(valueDate, all[rng.IntN(len(all))])
		}
		for range rng.IntN(3) {
			all := names()
			valueDate[all[rng.IntN(len(all))]] = t // rotated; a tag edit changes nothing judged
		}
		if outage > 0 {
			outage--
			continue
		}
		if rng.IntN(60) == 0 {
			outage = 1 + rng.IntN(30)
			continue
		}
		at := t.Add(time.Duration(rng.IntN(3)) * time.Second) // the scheduler's own drift
		if t.After(now) {
			if rng.IntN(2) == 0 {
				break
			}
			at = now.Add(time.Duration(1+rng.IntN(20)) * time.Hour) // a run dated after now
		}
		entry := loggedRun{RunEntry: audit.RunEntry{Month: tables.MonthOf(at), RunID: tables.NewRunID(at),
			CheckedAt: at.Format(time.RFC3339), Complete: rng.IntN(20) != 0, MaxAgeDays: 30}}
		if rng.IntN(30) != 0 {
			entry.ScheduledTime = entry.CheckedAt
		}
		counts := !at.Before(aware)
		var rows []fakeRow
		current := map[string]audit.Status{}
		listing := names()
		if rng.IntN(2) == 0 {
			listing = append(listing, fmt.Sprintf("t%03d", next)) // created and deleted around this run
			next++
		}
		for _, name := range listing {
			st := audit.StatusOK
			if date, ok := valueDate[name]; ok && at.Sub(date) > 30*24*time.Hour {
				st = audit.StatusNeedsRotation
			}
			current[name] = st
			r := fakeRow{Record: audit.Record{SecretName: name, RunID: entry.RunID, Status: st, CheckedAt: entry.CheckedAt, MaxAgeDays: 30}}
			if counts {
				r.Change = changeOf(prev, name, st)
			}
			rows = append(rows, r)
		}
		if entry.Complete {
			for _, name := range slices.Sorted(func(yield func(string) bool) {
				for n := range prev {
					_ = yield(n)
				}
			}) {
				if _, ok := current[name]; !ok && counts {
					rows = append(rows, fakeRow{Record: audit.Record{SecretName: name, RunID: entry.RunID, CheckedAt: entry.CheckedAt}, Change: tables.ChangeGone})
				}
			}
		} else {
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			rows = rows[:rng.IntN(len(rows)+1)] // it wrote some batches before it failed
			entry.Error = "list secrets: throttled"
		}
		n := 0
		for i, r := range rows {
			if tables.Changed(r.Change) {
				rows[i].ChangeMonth = tables.MonthOf(at)
			}
			if r.Change == tables.ChangeNew {
				n++
			}
			if r.Status != "" {
				entry.Checked++
			}
			if r.Flagged() {
				entry.Flagged++
			}
		}
		if counts {
			entry.New = &n
		}
		if entry.Complete {
			entry.CompleteKey = tables.CompleteValue
			prev = current
			for name := range current {
				listed[name] = true
			}
		}
		g.log.runs = append(g.log.runs, entry)
		g.log.rows[entry.RunID] = rows
		if !inPeriod(at) {
			continue
		}
		g.runs++
		g.rows += len(rows)
		if !entry.Complete {
			g.failed++
			continue
		}
		g.secrets = max(g.secrets, len(current))
		for _, r := range rows {
			if tables.Changed(r.Change) {
				g.changes[r.Change]++
			}
		}
	}
	return g
}

// sixHourly is the generated stacks' schedule, created with their first run.
var sixHourly = Schedule{Expression: "rate(6 hours)", Timezone: "UTC", CreationDate: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)}

// changeOf is a row's change against the previous complete run.
func changeOf(prev map[string]audit.Status, name string, st audit.Status) string {
	was, ok := prev[name]
	switch {
	case !ok:
		return tables.ChangeNew
	case was == audit.StatusOK && st == audit.StatusNeedsRotation:
		return tables.ChangeNewlyFlagged
	case was == audit.StatusNeedsRotation && st == audit.StatusOK:
		return tables.ChangeResolved
	}
	return tables.ChangeUnchanged
}

// Generated quarters with outages, deletions, rotations, tag edits,
// failed and manual runs, new secrets and a run dated after now: the
// history read from the state before the period and its changes is the
// history read from every day's run in full, and reads far fewer items.
// Some quarters start before the write side recorded changes.
func TestHistoryFromChangesEqualsEveryDay(t *testing.T) {
	ctx := context.Background()
	seen := map[string]int{}
	for seed := range uint64(6) {
		migrate := seed%3 == 2
		t.Run(fmt.Sprintf("seed %d migrate %v", seed, migrate), func(t *testing.T) {
			is := is.New(t)
			g := generate(seed, migrate)
			store := &Store{DB: g.log, Table: "rotcheck-audit", RunsTable: "rotcheck-runs"}
			want, err := referenceHistory(ctx, store, "rotcheck", q4[0], q4[1], g.now, sixHourly)
			is.NoErr(err)
			everyDay := g.log.items
			g.log.items, g.log.queries = 0, 0
			got, err := BuildHistory(ctx, store, "rotcheck", q4[0], q4[1], g.now, sixHourly)
			is.NoErr(err)
			is.True(len(want.Secrets) > 30) // the quarter has secrets to compare
			is.Equal(got, want)             // day by day, the same history
			for change, n := range g.changes {
				seen[change] += n
			}
			seen["failed runs"] += g.failed
			seen["gaps"] += len(got.Gaps)
			if !migrate {
				bound := 3 * (g.secrets + g.changes[tables.ChangeNew] + g.changes[tables.ChangeNewlyFlagged] +
					g.changes[tables.ChangeResolved] + g.changes[tables.ChangeGone] + g.runs) / 2
				is.True(g.log.items <= bound)     // O(secrets + changes + runs)
				is.True(g.log.items < everyDay/4) // not every row of every day
				t.Logf("items read: %d from the changes, %d from every day (%d rows in the period)", g.log.items, everyDay, g.rows)
			}
		})
	}
	is := is.New(t)
	for _, what := range []string{tables.ChangeNew, tables.ChangeNewlyFlagged, tables.ChangeResolved, tables.ChangeGone, "failed runs", "gaps"} {
		is.True(seen[what] > 0) // every kind of event was generated
	}
	t.Logf("events generated: %v", seen)
}

// A quarter whose runs all recorded their changes costs a Query per month
// twice, and four more, whatever its days: the control's first run, the
// run log's months, the last run before the period and its rows, and the
// change index's months up to the last day judged.
func TestHistoryQueriesTheStateAndTheChanges(t *testing.T) {
	is := is.New(t)
	for _, seed := range []uint64{0, 1, 3} {
		g := generate(seed, false)
		g.log.page = 0 // one page per Query
		store := &Store{DB: g.log, Table: "rotcheck-audit", RunsTable: "rotcheck-runs"}
		h, err := BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], g.now, sixHourly)
		is.NoErr(err)
		is.True(len(h.Secrets) > 30)
		months := int(h.Until.Month()-h.From.Month()) + 1
		if !h.Until.Before(h.To) {
			months = 3
		}
		is.Equal(g.log.queries, 1+months+1+1+months) // whatever the days and the secrets
	}
}
