package report

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// fullReaders bounds the runs read in full at once (and held, waiting for
// the walk to reach them): only runs logged before rows carried their
// change are.
const fullReaders = 4

// walk replays a period's complete runs, in run order, over the state
// before the period: each run's changes move the state on, and each day
// takes the state after its last complete run.
type walk struct {
	from  time.Time
	days  []Day
	dayOf map[string]int // a day's run -> the day's index
	last  string         // the last day's run: the walk ends there
	runs  []completeRun  // the complete runs up to last, oldest first
	// full are the runs read in full: a day's run after a run logged
	// without its changes, where the chain of changes starts again.
	full []string
	// state says whether the rows before the period are needed: the first
	// run's changes apply to them.
	state bool

	changes map[string][]statusRow // by run
	byName  map[string]*tracked    // by secret: its name, or in organization mode its ARN
	order   []*tracked

	// org: the runs are an organization hub's. missing are, for each
	// day's run with units failed, the units not done (read from the
	// units table): their secrets are not seen that day, but keep their
	// tracked status, and the next run's changes apply on top of it, as
	// the write side compares each unit with its rows of the last run in
	// which it was done, overlaid with what its failed attempts wrote
	// (whose changes the walk applies like any other).
	org     bool
	missing map[string]map[string]bool
}

// tracked is one secret during the walk.
type tracked struct {
	name            string
	arn             string       // organization mode: the secret's key
	account, region string       // organization mode
	status          audit.Status // after the runs so far; empty when absent
	sh              *SecretHistory
}

// unit names the secret's unit (organization mode).
func (t *tracked) unit() string { return tables.UnitOf(t.account, t.region) }

// newWalk plans the reads of a History whose run log is read.
func newWalk(h *History) *walk {
	w := &walk{from: h.From, days: h.Days, dayOf: map[string]int{}, changes: map[string][]statusRow{}, byName: map[string]*tracked{},
		org: h.Org, missing: map[string]map[string]bool{}}
	for i, d := range h.Days {
		if d.RunID != "" {
			w.dayOf[d.RunID], w.last = i, d.RunID
		}
	}
	chained := true // the state so far follows from what is read
	for i, r := range h.complete {
		if r.id > w.last {
			break
		}
		w.runs = append(w.runs, r)
		if !r.changes {
			chained = false
		} else if i == 0 {
			w.state = true
		}
		_, judges := w.dayOf[r.id]
		if judges && !chained {
			w.full, chained = append(w.full, r.id), true
		}
		if judges && r.failed && w.org {
			w.missing[r.id] = nil // read before the walk
		}
	}
	return w
}

// read reads the state before the period and the period's changes, then
// walks the runs, reading in full those it must.
func (w *walk) read(ctx context.Context, s *Store) error {
	g, gctx := errgroup.WithContext(ctx)
	if w.state {
		var rows []statusRow
		g.Go(func() error {
			before, err := s.RunBefore(gctx, w.from)
			if errors.Is(err, ErrNoRuns) {
				return nil // the period starts before the first run: nothing before it
			}
			if err != nil {
				return err
			}
			if w.org && before.UnitsFailed > 0 {
				start, err := s.failedUnitsStart(gctx, before.RunID)
				if err != nil {
					return err
				}
				w.apply(start) // then the rows their failed attempt wrote in it
			}
			if err := s.eachStatus(gctx, before.RunID, func(r statusRow) { rows = append(rows, r) }); err != nil {
				return fmt.Errorf("read the rows of run %s, before the period: %w", before.RunID, err)
			}
			w.apply(rows)
			return nil
		})
	}
	var mu sync.Mutex
	for _, id := range slices.Collect(maps.Keys(w.missing)) {
		g.Go(func() error {
			units, err := s.Units(gctx, id)
			if err != nil {
				return fmt.Errorf("read the units of run %s: %w", id, err)
			}
			missing := map[string]bool{}
			for _, u := range units {
				if !u.Done() {
					missing[u.Unit] = true
				}
			}
			mu.Lock()
			w.missing[id] = missing
			mu.Unlock()
			return nil
		})
	}
	var months [][]statusRow // each month's changes, read at once
	if w.needChanges() {
		last, err := tables.ParseRunID(w.last)
		if err != nil {
			return fmt.Errorf("day's run: %w", err)
		}
		until := last.Add(time.Millisecond)
		counted := map[string]bool{}
		for _, r := range w.runs {
			counted[r.id] = r.changes
		}
		var starts []time.Time
		for month := monthStart(w.from); month.Before(until); month = month.AddDate(0, 1, 0) {
			starts = append(starts, month)
		}
		months = make([][]statusRow, len(starts))
		for i, month := range starts {
			g.Go(func() error {
				err := s.eachChange(gctx, month, w.from, until, func(r statusRow) {
					if counted[r.RunID] { // a failed run's changes are no complete run's
						months[i] = append(months[i], r)
					}
				})
				if err != nil {
					return fmt.Errorf("read the changes of %s: %w", tables.MonthOf(month), err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, rows := range months {
		for _, r := range rows {
			w.changes[r.RunID] = append(w.changes[r.RunID], r)
		}
	}
	return w.replay(ctx, s)
}

// failedUnitsStart is where the units not done in run before (the last
// complete run before a period, with units failed) start the period from,
// as rows to apply, oldest first, before that run's own: the rows of each
// unit in the last earlier complete run in which it was done, then the
// rows its failed attempts wrote in the runs between (a tombstone has no
// status, so it removes its secret). That is the baseline the unit's next
// run compared itself with (audit.Checker's previousRun), so its changes
// apply on top of it; the rows of run before alone are empty or partial
// for such a unit, and a secret that did not change would never show.
//
// It steps back as the write side does, at most audit.MaxStepsBack runs,
// run before included. Its cost, only when run before had units failed:
// one Query of the units of run before, then for each run stepped back
// over, one Query of the run log (Limit 1) and, when that run had units
// failed, one of its units, shared by every unit still stepping back;
// then one Query of the by-account index (paged) per account and run
// read, shared by the account's regions. So at most 47 + 47 small Queries
// and 47 per account with a unit not done.
func (s *Store) failedUnitsStart(ctx context.Context, before string) ([]statusRow, error) {
	units, err := s.Units(ctx, before)
	if err != nil {
		return nil, fmt.Errorf("read the units of run %s, before the period: %w", before, err)
	}
	stepping := map[string]Unit{} // the units still looking for a run in which they were done
	for _, u := range units {
		if !u.Done() {
			stepping[u.Unit] = u
		}
	}
	type read struct {
		runID string
		units map[string]bool // the account's units that read the run
	}
	reads := map[string][]read{} // by account, newest first
	for step := 1; step < audit.MaxStepsBack && len(stepping) > 0; step++ {
		entry, err := s.endRun(ctx, false, expression.Key(tables.RunID).LessThan(expression.Value(before)))
		if errors.Is(err, ErrNoRuns) {
			break
		}
		if err != nil {
			return nil, err
		}
		done := map[string]bool{}
		if entry.UnitsFailed > 0 {
			us, err := s.Units(ctx, entry.RunID)
			if err != nil {
				return nil, fmt.Errorf("read the units of run %s: %w", entry.RunID, err)
			}
			for _, u := range us {
				done[u.Unit] = u.Done()
			}
		}
		byAccount := map[string]map[string]bool{}
		for unit, u := range stepping {
			if byAccount[u.AccountID] == nil {
				byAccount[u.AccountID] = map[string]bool{}
			}
			byAccount[u.AccountID][unit] = true
			if entry.UnitsFailed == 0 || done[unit] {
				delete(stepping, unit)
			}
		}
		for account, us := range byAccount {
			reads[account] = append(reads[account], read{entry.RunID, us})
		}
		before = entry.RunID
	}
	var rows []statusRow
	for _, account := range slices.Sorted(maps.Keys(reads)) {
		runs := reads[account]
		for i := len(runs) - 1; i >= 0; i-- {
			err := s.eachAccountStatus(ctx, account, runs[i].runID, func(r statusRow) {
				if runs[i].units[tables.UnitOf(r.AccountID, r.Region)] {
					rows = append(rows, r)
				}
			})
			if err != nil {
				return nil, fmt.Errorf("read the rows of account %s in run %s: %w", account, runs[i].runID, err)
			}
		}
	}
	return rows, nil
}

// needChanges says whether any run's changes are applied.
func (w *walk) needChanges() bool {
	for _, r := range w.runs {
		if r.changes {
			return true
		}
	}
	return false
}

// replay walks the runs in order. Runs to read in full are read ahead, a
// few at a time.
func (w *walk) replay(ctx context.Context, s *Store) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reads, slots := w.readAhead(ctx, s)
	next := 0
	for _, r := range w.runs {
		switch {
		case next < len(w.full) && w.full[next] == r.id:
			read := <-reads[next]
			<-slots // read and held no more: another may start
			next++
			if read.err != nil {
				return fmt.Errorf("read the rows of run %s: %w", r.id, read.err)
			}
			missing := w.missing[r.id]
			for _, t := range w.order {
				if !missing[t.unit()] { // a unit not done keeps its state
					t.status = ""
				}
			}
			w.apply(read.rows)
		case r.changes:
			w.apply(w.changes[r.id])
		}
		if i, ok := w.dayOf[r.id]; ok {
			w.judge(i, w.missing[r.id])
		}
	}
	return nil
}

// fullRead is the rows of a run read in full.
type fullRead struct {
	rows []statusRow
	err  error
}

// readAhead reads the runs to read in full, in order, at most
// fullReaders at once; each one's rows arrive on its own channel, and the
// walk frees its slot once it has applied them, so no more than
// fullReaders runs are held at a time.
func (w *walk) readAhead(ctx context.Context, s *Store) ([]chan fullRead, chan struct{}) {
	reads := make([]chan fullRead, len(w.full))
	for i := range reads {
		reads[i] = make(chan fullRead, 1)
	}
	slots := make(chan struct{}, fullReaders)
	go func() {
		for i, id := range w.full {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				var read fullRead
				read.err = s.eachStatus(ctx, id, func(r statusRow) { read.rows = append(read.rows, r) })
				reads[i] <- read
			}()
		}
	}()
	return reads, slots
}

// apply sets the status of each row's secret: a tombstone (gone) has
// none, so its secret is absent from then on.
func (w *walk) apply(rows []statusRow) {
	for _, r := range rows {
		key := r.key(w.org)
		t, ok := w.byName[key]
		if !ok {
			if r.Status == "" {
				continue
			}
			t = &tracked{name: r.SecretName}
			if w.org {
				t.arn, t.account, t.region = r.SecretARN, r.AccountID, r.Region
				if t.account == "" {
					t.account, t.region = Where(audit.Record{SecretARN: r.SecretARN})
				}
			}
			w.byName[key] = t
			w.order = append(w.order, t)
		}
		t.status = r.Status
	}
}

// judge records every present secret's status on day i. The secrets of
// the units missing from the day's run are not seen that day; their
// status is kept for the runs after.
func (w *walk) judge(i int, missing map[string]bool) {
	for _, t := range w.order {
		if t.status == "" || missing[t.unit()] {
			continue
		}
		if t.sh == nil {
			t.sh = &SecretHistory{Name: t.name, ARN: t.arn, AccountID: t.account, Region: t.region, Status: make([]audit.Status, len(w.days))}
		}
		t.sh.Status[i] = t.status
	}
}

// secrets are the secrets seen on a day judged, summarized.
func (w *walk) secrets(h *History) []SecretHistory {
	last := h.lastJudged()
	var out []SecretHistory
	for _, t := range w.order {
		if t.sh != nil {
			t.sh.summarize(h.Days, last)
			out = append(out, *t.sh)
		}
	}
	return out
}
