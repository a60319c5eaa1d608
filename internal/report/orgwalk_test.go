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

// generateOrg writes an organization hub's runs, every six hours from 1
// September 2026 to now, for two accounts in one region, as the write
// side does: each unit done, failed before writing, or failed after
// writing part of its rows; a unit compares itself with its last done
// run overlaid with what its failed attempts wrote. Secrets are created,
// rotated and deleted between runs.
func generateOrg(seed uint64) (*fakeLog, time.Time, int) {
	rng := rand.New(rand.NewPCG(seed, 0x0a9))
	now := q4[0].AddDate(0, 0, 20+rng.IntN(60))
	f := &fakeLog{rows: map[string][]fakeRow{}, page: 7}
	accounts := []string{acctA, acctB}
	world := map[string]map[string]time.Time{} // account -> name -> value date
	base := map[string]map[string]audit.Status{}
	next := 0
	for _, a := range accounts {
		world[a], base[a] = map[string]time.Time{}, map[string]audit.Status{}
		for range 15 {
			world[a][fmt.Sprintf("s%03d", next)] = q4[0].AddDate(0, -1, -rng.IntN(40))
			next++
		}
	}
	partials := 0
	for t := q4[0].AddDate(0, -1, 0); t.Before(now); t = t.Add(6 * time.Hour) {
		for _, a := range accounts {
			names := slices.Sorted(func(yield func(string) bool) {
				for n := range world[a] {
					_ = yield(n)
				}
			})
			switch rng.IntN(6) {
			case 0:
				world[a][fmt.Sprintf("s%03d", next)] = t.AddDate(0, 0, -rng.IntN(45))
				next++
			case 1:
				if len(names) > 1 {
					delete(world[a], names[rng.IntN(len(names))])
				}
			case 2:
				world[a][names[rng.IntN(len(names))]] = t
			}
		}
		e := scheduled(t)
		if rng.IntN(5) == 0 {
			e = manual(t.Add(time.Hour))
		}
		e.CompleteKey, e.Regions, e.UnitsExpected, e.UnitsDone = tables.CompleteValue, "us-east-1", 2, 2
		zero := 0
		for _, a := range accounts {
			state := tables.UnitDone
			if r := rng.IntN(8); r < 2 {
				state = tables.UnitFailed
				e.UnitsFailed++
			}
			f.units = append(f.units, fakeUnit{RunID: e.RunID, Unit: Unit{Unit: tables.UnitOf(a, "us-east-1"), AccountID: a, Region: "us-east-1", State: state}})
			listed := map[string]audit.Status{}
			var rows []fakeRow
			for name, date := range world[a] {
				st := audit.StatusOK
				if t.Sub(date) > 30*24*time.Hour {
					st = audit.StatusNeedsRotation
				}
				listed[name] = st
				r := orgRow(e.RunID, a, "us-east-1", name, st, changeOf(base[a], name, st))
				rows = append(rows, r)
			}
			if state == tables.UnitDone {
				for name := range base[a] {
					if _, ok := listed[name]; !ok {
						rows = append(rows, orgRow(e.RunID, a, "us-east-1", name, "", tables.ChangeGone))
					}
				}
				base[a] = listed
			} else {
				rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
				rows = rows[:rng.IntN(len(rows)+1)]
				for _, r := range rows {
					base[a][r.SecretName] = r.Status // the next run compares with what it wrote
				}
				if len(rows) > 0 {
					partials++
				}
			}
			for i := range rows {
				rows[i].CheckedAt = e.CheckedAt
				rows[i].ChangeMonth = ""
				if tables.Changed(rows[i].Change) {
					rows[i].ChangeMonth = tables.MonthOf(t)
				}
			}
			f.rows[e.RunID] = append(f.rows[e.RunID], rows...)
		}
		f.runs = append(f.runs, loggedRun{RunEntry: e, New: &zero})
	}
	return f, now, partials
}

// referenceOrgHistory reads each judged day's run in full: the rows of
// the units done in it, keyed by ARN, tombstones skipped.
func referenceOrgHistory(ctx context.Context, s *Store, h History) (map[string][]audit.Status, error) {
	out := map[string][]audit.Status{}
	for i, day := range h.Days {
		if day.RunID == "" {
			continue
		}
		units, err := s.Units(ctx, day.RunID)
		if err != nil {
			return nil, err
		}
		done := map[string]bool{}
		for _, u := range units {
			done[u.Unit] = u.Done()
		}
		err = s.EachRow(ctx, day.RunID, func(r audit.Record) {
			if r.Status == "" || !done[tables.UnitOf(r.AccountID, r.Region)] {
				return
			}
			if out[r.SecretARN] == nil {
				out[r.SecretARN] = make([]audit.Status, len(h.Days))
			}
			out[r.SecretARN][i] = r.Status
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Generated organization quarters, with units that fail before writing
// and after writing part of their rows: the history read from the changes
// is the history read from every day's run in full.
func TestOrganizationHistoryFromChangesEqualsEveryDay(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			is := is.New(t)
			f, now, partials := generateOrg(seed)
			s := &Store{DB: f, Table: "hub-audit", RunsTable: "hub-runs", OrgTable: "hub-org-audit", UnitsTable: "hub-units", Org: true}
			h, err := BuildHistory(ctx, s, "hub", q4[0], q4[1], now, Schedule{Expression: "rate(6 hours)", Timezone: "UTC", CreationDate: q4[0].AddDate(0, -1, 0)})
			is.NoErr(err)
			is.True(partials > 0) // units failed after writing part of their rows
			want, err := referenceOrgHistory(ctx, s, h)
			is.NoErr(err)
			got := map[string][]audit.Status{}
			for _, sh := range h.Secrets {
				got[sh.ARN] = sh.Status
			}
			is.True(len(want) > 20)
			for arn, st := range want {
				is.Equal(got[arn], st) // day by day, as every day's run in full says
			}
			is.Equal(len(got), len(want))
		})
	}
}

// orgPeriod is the history, by secret name (acctB's), of f from October
// day first to day last, both included.
func orgPeriod(t *testing.T, f *fakeLog, first, last int) map[string][]audit.Status {
	t.Helper()
	s := &Store{DB: f, Table: "hub-audit", RunsTable: "hub-runs", OrgTable: "hub-org-audit", UnitsTable: "hub-units"}
	from, to := time.Date(2026, 10, first, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, last+1, 0, 0, 0, 0, time.UTC)
	h, err := BuildHistory(context.Background(), s, "hub", from, to, to, Schedule{Expression: "rate(1 day)", CreationDate: from.AddDate(0, 0, -first)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]audit.Status{}
	for _, sh := range h.Secrets {
		if sh.AccountID == acctB {
			out[sh.Name] = sh.Status
		}
	}
	return out
}

// count is how many Queries f was asked of a table and index.
func (f *fakeLog) count(asked string) int {
	n := 0
	for _, a := range f.asked {
		if a == asked {
			n++
		}
	}
	return n
}

// The period starts on day 3; the run before it (day 2) had acctB's unit
// failed after writing x's row (flagged now), not y's, and z was deleted
// before it. Day 3's run compares acctB with day 1 overlaid with day 2's
// attempt: x and y unchanged, z gone. So the period starts from that
// state, not from day 2's rows alone, which hold only x.
func TestOrganizationHistoryStartsFromAFailedUnitsLastDoneRun(t *testing.T) {
	is := is.New(t)
	f, id := orgDays([2]int{1, 12}, [2]int{2, 12}, [2]int{3, 12}, [2]int{4, 12})
	failUnit(f, 1)
	ok, nr := audit.StatusOK, audit.StatusNeedsRotation
	f.rows[id(0)] = []fakeRow{
		orgRow(id(0), acctA, "us-east-1", "db", ok, tables.ChangeNew),
		orgRow(id(0), acctB, "us-east-1", "x", ok, tables.ChangeNew),
		orgRow(id(0), acctB, "us-east-1", "y", ok, tables.ChangeNew),
		orgRow(id(0), acctB, "us-east-1", "z", ok, tables.ChangeNew),
	}
	f.rows[id(1)] = []fakeRow{
		orgRow(id(1), acctA, "us-east-1", "db", ok, tables.ChangeUnchanged),
		orgRow(id(1), acctB, "us-east-1", "x", nr, tables.ChangeNewlyFlagged),
	}
	for _, i := range []int{2, 3} {
		f.rows[id(i)] = []fakeRow{
			orgRow(id(i), acctA, "us-east-1", "db", ok, tables.ChangeUnchanged),
			orgRow(id(i), acctB, "us-east-1", "x", nr, tables.ChangeUnchanged),
			orgRow(id(i), acctB, "us-east-1", "y", ok, tables.ChangeUnchanged),
		}
	}
	f.rows[id(2)] = append(f.rows[id(2)], orgRow(id(2), acctB, "us-east-1", "z", "", tables.ChangeGone))
	for _, rows := range f.rows {
		for i := range rows {
			if tables.Changed(rows[i].Change) {
				rows[i].ChangeMonth = "2026-10"
			}
		}
	}
	got := orgPeriod(t, f, 3, 4)
	is.Equal(got["x"], []audit.Status{nr, nr}) // flagged by day 2's attempt, unchanged since
	is.Equal(got["y"], []audit.Status{ok, ok}) // from day 1, the unit's last done run
	is.Equal(got["z"], nil)                    // buried by day 3's run
	is.Equal(len(got), 2)
	is.Equal(f.count("hub-units/"), 1)                         // day 2's units; day 1 had none failed
	is.Equal(f.count("hub-org-audit/"+tables.AccountIndex), 1) // acctB's rows of day 1
	is.Equal(f.count("hub-runs/"+tables.CompleteIndex), 3)     // the first run ever, the run before the period, and one step back
}

// A unit failed in more runs than audit.MaxStepsBack before the period
// steps back no further than the write side does.
func TestOrganizationHistoryStepsBackAtMostMaxStepsBack(t *testing.T) {
	is := is.New(t)
	runs := [][2]int{{1, 0}}
	for d := 1; d <= 3; d++ {
		for h := range 24 {
			if d == 1 && h == 0 || d == 3 && h > 12 {
				continue
			}
			runs = append(runs, [2]int{d, h})
		}
	}
	failing := len(runs) - 1
	runs = append(runs, [2]int{4, 12}, [2]int{5, 12})
	f, id := orgDays(runs...)
	ok := audit.StatusOK
	f.rows[id(0)] = []fakeRow{orgRow(id(0), acctB, "us-east-1", "x", ok, tables.ChangeNew)}
	for i := 1; i <= failing; i++ {
		failUnit(f, i)
	}
	for _, i := range []int{failing + 1, failing + 2} {
		change := tables.ChangeUnchanged
		if i == failing+1 {
			change = tables.ChangeNew // its last done run is beyond the bound: x is new again
		}
		r := orgRow(id(i), acctB, "us-east-1", "x", ok, change)
		if tables.Changed(change) {
			r.ChangeMonth = "2026-10"
		}
		f.rows[id(i)] = []fakeRow{r}
	}
	is.True(failing > audit.MaxStepsBack)
	got := orgPeriod(t, f, 4, 5)
	is.Equal(got["x"], []audit.Status{ok, ok})
	is.Equal(f.count("hub-units/"), audit.MaxStepsBack)                           // the run before the period's, and those of the runs stepped back over
	is.Equal(f.count("hub-org-audit/"+tables.AccountIndex), audit.MaxStepsBack-1) // acctB's rows of each run stepped back to
}
