package audit

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// unitHub is an organization hub's tables as one unit's runs see them:
// the rows in memory, the run log the coordinator writes (entries added
// by the test), and the unit's state in each run.
type unitHub struct {
	m       memory
	done    map[string]bool // run ID -> the unit was done in it
	asked   []string        // the runs UnitDone was asked about
	logRead int             // Queries of the run log
}

// checker is the unit's Checker for a run at at, listing w's secrets, as
// the organization worker sets it up: no run log entry of its own, and
// UnitDone from the units table.
func (h *unitHub) checker(w *world) *Checker {
	table := h.m.table()
	query := table.QueryFn
	table.QueryFn = func(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		if aws.ToString(in.TableName) == "runs" {
			h.m.mu.Lock()
			h.logRead++
			h.m.mu.Unlock()
		}
		return query(ctx, in)
	}
	c := newTestChecker(w.client(), table, nil)
	c.Config.RunsTableName = "runs"
	c.Config.AccountID, c.Config.Region = "123456789012", "us-east-1"
	c.Runs = nil
	c.UnitDone = func(_ context.Context, runID string) (bool, error) {
		h.asked = append(h.asked, runID)
		return h.done[runID], nil
	}
	return c
}

// run runs the unit at at and logs the run as complete, with the unit
// done or failed (another unit of the run done either way). A failing
// unit's attempt is made by fail, which may write part of its rows.
func (h *unitHub) run(t *testing.T, c *Checker, at time.Time, done bool) Result {
	t.Helper()
	c.Now = func() time.Time { return at }
	res, err := c.Run(context.Background(), Event{ScheduledTime: at})
	if done && err != nil {
		t.Fatalf("run at %s: %v", at, err)
	}
	h.log(at, !done)
	return res
}

// log adds a complete run at at to the run log, with a unit failed or not.
func (h *unitHub) log(at time.Time, failed bool) string {
	id := tables.NewRunID(at)
	e := RunEntry{RunID: id, CheckedAt: at.Format(time.RFC3339), Complete: true, CompleteKey: tables.CompleteValue, UnitsExpected: 2, UnitsDone: 2}
	if failed {
		e.UnitsFailed = 1
	} else {
		h.done[id] = true
	}
	h.m.log.entries = append(h.m.log.entries, e)
	return id
}

// A unit whose previous run failed compares itself with the last run in
// which it was done, overlaid with what the failed attempt wrote: a
// secret deleted while it was failing gets its tombstone, a secret the
// failed attempt did not reach is not new, and the change a failed
// attempt wrote is not written again.
func TestUnitComparesWithTheLastRunItWasDone(t *testing.T) {
	is := is.New(t)
	h := &unitHub{done: map[string]bool{}}
	w := &world{secrets: []smtypes.SecretListEntry{
		secret("a", day, "Managed", "true"), secret("x", day, "Managed", "true"), secret("y", day, "Managed", "true"),
	}, calls: map[string]int{}}
	c := h.checker(w)
	first := h.run(t, c, testNow, true)

	// Run 2: the unit wrote a's row, flagged now, and failed before the
	// others: its baseline is run 1.
	w.edit("a", func(s *smtypes.SecretListEntry) {
		s.CreatedDate, s.LastChangedDate = aws.Time(testNow.Add(-40*day)), aws.Time(testNow.Add(-40*day))
	})
	partial := h.checker(&world{secrets: w.secrets[:1], calls: map[string]int{}})
	second := h.run(t, partial, testNow.Add(time.Hour), false)
	is.Equal(second.PreviousRunID, first.RunID)
	is.Equal(h.m.records(t, second.RunID)["a"].Change, tables.ChangeNewlyFlagged)
	delete(h.m.rows[second.RunID], "x") // its tombstone was never written: the attempt failed before burying
	delete(h.m.rows[second.RunID], "y")

	// Run 3, done: x was deleted meanwhile.
	w.secrets = slices.DeleteFunc(w.secrets, func(s smtypes.SecretListEntry) bool { return aws.ToString(s.Name) == "x" })
	third := h.run(t, c, testNow.Add(2*time.Hour), true)
	rows := h.m.records(t, third.RunID)
	is.Equal(third.PreviousRunID, first.RunID)                           // the last run in which the unit was done
	is.Equal(rows["x"].Change, tables.ChangeGone)                        // deleted while the unit was failing: buried now
	is.Equal(rows["y"].Change, tables.ChangeUnchanged)                   // not new: run 1 had it
	is.Equal(rows["a"].Change, tables.ChangeUnchanged)                   // run 2 wrote its newly_flagged already
	is.Equal(h.asked, []string{tables.NewRunID(testNow.Add(time.Hour))}) // only the run with units failed is asked about
	is.Equal([]int{third.New, third.Gone, third.NewFlagged}, []int{0, 1, 0})
}

// A unit steps back over at most MaxStepsBack failed runs; then its
// baseline is those runs' rows alone.
func TestUnitStepsBackABoundedNumberOfRuns(t *testing.T) {
	is := is.New(t)
	h := &unitHub{done: map[string]bool{}}
	w := &world{secrets: []smtypes.SecretListEntry{secret("a", day, "Managed", "true")}, calls: map[string]int{}}
	c := h.checker(w)
	h.run(t, c, testNow, true)
	for i := range MaxStepsBack + 10 {
		h.log(testNow.Add(time.Duration(i+1)*time.Minute), true) // failed before writing any row
	}
	h.logRead, h.asked = 0, nil
	res := h.run(t, c, testNow.Add(2*time.Hour), true)
	is.Equal(len(h.asked), MaxStepsBack)                                      // one GetItem a run stepped over, no more
	is.Equal(h.logRead, MaxStepsBack)                                         // one run log Query each
	is.Equal(res.New, 1)                                                      // no baseline within the bound: a is new
	is.Equal(res.PreviousRunID, tables.NewRunID(testNow.Add(11*time.Minute))) // the oldest run stepped over
}

// A unit whose previous run had no unit failed, and a single-account run,
// read one run log entry and ask nothing more.
func TestBaselineWithoutFailedUnitsCostsNoMoreCalls(t *testing.T) {
	is := is.New(t)
	h := &unitHub{done: map[string]bool{}}
	w := &world{secrets: managed(3), calls: map[string]int{}}
	c := h.checker(w)
	h.run(t, c, testNow, true)
	h.logRead = 0
	res := h.run(t, c, testNow.Add(time.Hour), true)
	is.Equal(h.asked, nil) // units_failed 0 says the unit was done
	is.Equal(h.logRead, 1)
	is.Equal(res.New, 0)

	m := &memory{}
	single := sinceChecker(w, m)
	runAt(t, single, testNow)
	m.log.entries[0].UnitsFailed = 1 // even so: single-account mode has no units
	before := m.queries
	res = runAt(t, single, testNow.Add(time.Hour))
	is.Equal(single.UnitDone, nil)
	is.Equal(m.queries-before, 1) // the previous run's rows, once
	is.Equal(res.New, 0)
	is.Equal(len(m.log.entries), 2)
}
