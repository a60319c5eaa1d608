package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/schedexpr"
)

// History is the evidence for a period: each secret's status day by day,
// and whether the control ran throughout. A day is judged by its last
// complete run, so a quarter costs one Query of the run index per day
// (about 92), plus one per month of the run log, never a read of every row.
type History struct {
	Stack    string
	From, To time.Time // the period, To excluded
	// Until is where the evidence stops: To, or now for a period not over.
	Until time.Time
	// Schedule is the expression the expected runs come from.
	Schedule string
	Days     []Day
	Secrets  []SecretHistory
	// Expected is how many runs the schedule should have made from the
	// first run recorded in the period (the control cannot be expected to
	// run before it existed) until Until; Recorded how many of them
	// completed; Gaps the expected runs missing, grouped into spans.
	Expected, Recorded int
	Gaps               []Gap
	// FirstRun is the first run recorded in the period; zero for none.
	FirstRun time.Time
	// Manual counts complete runs not sent by the scheduler; Failed runs
	// that did not complete.
	Manual, Failed int
	// ControlStarted is set when the period has no run because it ends
	// before the control's first complete run: when that run was. Nothing
	// was expected of the period, and it has no gaps.
	ControlStarted time.Time
}

// Day is one UTC day of the period and the run that judged it.
type Day struct {
	Date             time.Time
	RunID            string // empty when no complete run that day
	Checked, Flagged int
}

// SecretHistory is one secret over the period.
type SecretHistory struct {
	Name string
	// Status holds the secret's status on each day of the History's Days,
	// empty where it was not seen.
	Status                []audit.Status
	DaysSeen, DaysFlagged int
	// FirstFlagged and LastFlagged are the first and last days it needed
	// rotation; zero when it never did.
	FirstFlagged, LastFlagged time.Time
	// FlaggedNow: it needs rotation on the last day judged.
	FlaggedNow bool
	// FlaggedSince is the first day of the current flagged stretch.
	FlaggedSince   time.Time
	LongestFlagged int // the longest run of flagged days
	// Last is its row on the last day it was seen.
	Last audit.Record
}

// Gap is a span of expected runs that are missing.
type Gap struct {
	From    time.Time `json:"from"` // the first missing run
	To      time.Time `json:"to"`   // the last missing run
	Missing int       `json:"missing"`
}

// Schedule names the schedule the expected runs come from.
type Schedule struct {
	Expression, Timezone string
}

// maxExpected bounds the expected runs a period can have (a year of
// rate(1 minute) is 525,600).
const maxExpected = 1_000_000

// BuildHistory reads the evidence for [from, to) as of now.
func BuildHistory(ctx context.Context, s *Store, stack string, from, to, now time.Time, sched Schedule) (History, error) {
	h := History{Stack: stack, From: from.UTC(), To: to.UTC(), Until: to.UTC(), Schedule: sched.Expression}
	if now.Before(to) {
		h.Until = now.UTC()
	}
	runs, err := s.Runs(ctx, from, h.Until)
	if err != nil {
		return h, err
	}
	if len(runs) == 0 {
		// A period before the control existed expects nothing of it; one
		// after its first run, with no run at all, is one long gap.
		first, err := s.FirstRun(ctx)
		switch {
		case errors.Is(err, ErrNoRuns):
		case err != nil:
			return h, err
		default:
			if at, err := RunTime(first.RunID); err == nil && !at.Before(h.Until) {
				h.ControlStarted = at
			}
		}
	}
	if err := h.countRuns(runs, sched); err != nil {
		return h, err
	}
	h.pickDays(runs)
	secrets, err := h.readDays(ctx, s)
	if err != nil {
		return h, err
	}
	last := h.lastJudged()
	for _, sh := range secrets {
		sh.summarize(h.Days, last)
		h.Secrets = append(h.Secrets, *sh)
	}
	slices.SortFunc(h.Secrets, func(a, b SecretHistory) int {
		if a.FlaggedNow != b.FlaggedNow {
			if a.FlaggedNow {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.DaysFlagged, a.DaysFlagged); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return h, nil
}

// dayReaders bounds the days whose rows are read at once: a quarter is
// about 92 Queries, which one after another would take a second or more
// at AWS latency.
const dayReaders = 8

// readDays reads the rows of each day's run, a few days at a time, into
// each secret's status per day; a secret's Last row is from the last day
// it was seen, whatever order the days are read in.
func (h *History) readDays(ctx context.Context, s *Store) (map[string]*SecretHistory, error) {
	var mu sync.Mutex
	secrets := map[string]*SecretHistory{}
	lastSeen := map[string]int{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(dayReaders)
	for i, day := range h.Days {
		if day.RunID == "" {
			continue
		}
		g.Go(func() error {
			return s.EachRow(gctx, day.RunID, func(r audit.Record) {
				mu.Lock()
				defer mu.Unlock()
				sh, ok := secrets[r.SecretName]
				if !ok {
					sh = &SecretHistory{Name: r.SecretName, Status: make([]audit.Status, len(h.Days))}
					secrets[r.SecretName] = sh
				}
				sh.Status[i] = r.Status
				if seen, ok := lastSeen[r.SecretName]; !ok || i >= seen {
					sh.Last, lastSeen[r.SecretName] = r, i
				}
			})
		})
	}
	return secrets, g.Wait()
}

// countRuns compares the runs recorded with those the schedule expected,
// and lists the gaps. An expected fire counts as recorded when a scheduled
// run falls nearer to it than to the fires around it: a redeploy that
// updates a rate() schedule starts its count again, shifting every later
// fire by the time the redeploy took, and that is not a missed run.
func (h *History) countRuns(runs []audit.RunEntry, sched Schedule) error {
	var recorded []time.Time
	var anchor time.Time
	for _, r := range runs {
		if at, err := time.Parse(time.RFC3339, r.CheckedAt); err == nil && (h.FirstRun.IsZero() || at.Before(h.FirstRun)) {
			h.FirstRun = at.UTC()
		}
		switch {
		case !r.Complete:
			h.Failed++
		case r.ScheduledTime == "":
			h.Manual++
		default:
			t, err := time.Parse(time.RFC3339, r.ScheduledTime)
			if err != nil {
				return fmt.Errorf("run %s: scheduled_time %q: %w", r.RunID, r.ScheduledTime, err)
			}
			recorded = append(recorded, t.UTC())
			anchor = t
		}
	}
	if !h.ControlStarted.IsZero() {
		return nil // the period is over before the control's first run
	}
	if anchor.IsZero() {
		anchor = h.From
	}
	start := h.From
	if h.FirstRun.After(start) {
		start = h.FirstRun
	}
	if len(runs) == 0 {
		start = h.From // no run at all: every expected run is missing
	}
	expected, err := schedexpr.Fires(sched.Expression, sched.Timezone, anchor, start, h.Until, maxExpected)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", sched.Expression, err)
	}
	h.Expected = len(expected)
	slices.SortFunc(recorded, time.Time.Compare)
	var gap *Gap
	for i, t := range expected {
		t = t.UTC()
		lo, hi := window(expected, i)
		if j, _ := slices.BinarySearchFunc(recorded, lo, time.Time.Compare); j < len(recorded) && recorded[j].Before(hi) {
			h.Recorded++
			gap = nil
			continue
		}
		if gap == nil {
			h.Gaps = append(h.Gaps, Gap{From: t})
			gap = &h.Gaps[len(h.Gaps)-1]
		}
		gap.To = t
		gap.Missing++
	}
	return nil
}

// window is the span of times nearer to fire i than to its neighbours
// (as wide on the open side as on the other); a lone fire is matched to
// the second.
func window(fires []time.Time, i int) (lo, hi time.Time) {
	t := fires[i]
	before, after := time.Duration(0), time.Duration(0)
	if i > 0 {
		before = t.Sub(fires[i-1]) / 2
	}
	if i+1 < len(fires) {
		after = fires[i+1].Sub(t) / 2
	}
	switch {
	case before == 0 && after == 0:
		before, after = 0, time.Second
	case before == 0:
		before = after
	case after == 0:
		after = before
	}
	return t.Add(-before), t.Add(after)
}

// pickDays lists the period's UTC days, each with its last complete run.
func (h *History) pickDays(runs []audit.RunEntry) {
	index := map[string]int{}
	for d := h.From.Truncate(24 * time.Hour); d.Before(h.Until); d = d.AddDate(0, 0, 1) {
		index[d.Format(time.DateOnly)] = len(h.Days)
		h.Days = append(h.Days, Day{Date: d})
	}
	for _, r := range runs {
		at, err := time.Parse(time.RFC3339, r.CheckedAt)
		if err != nil || !r.Complete {
			continue
		}
		i, ok := index[at.UTC().Format(time.DateOnly)]
		if !ok || h.Days[i].RunID != "" && r.RunID < h.Days[i].RunID {
			continue // runs come oldest first, but a later one of the same day wins either way
		}
		h.Days[i].RunID, h.Days[i].Checked, h.Days[i].Flagged = r.RunID, r.Checked, r.Flagged
	}
}

// lastJudged is the index of the last day with a run, or -1.
func (h *History) lastJudged() int {
	for i := len(h.Days) - 1; i >= 0; i-- {
		if h.Days[i].RunID != "" {
			return i
		}
	}
	return -1
}

// summarize counts a secret's days and its flagged stretches.
func (sh *SecretHistory) summarize(days []Day, last int) {
	stretch := 0
	for i, st := range sh.Status {
		if st == "" {
			if days[i].RunID != "" {
				stretch = 0 // judged that day without this secret: the stretch ends
			}
			continue
		}
		sh.DaysSeen++
		if st != audit.StatusNeedsRotation {
			stretch = 0
			continue
		}
		sh.DaysFlagged++
		if sh.FirstFlagged.IsZero() {
			sh.FirstFlagged = days[i].Date
		}
		sh.LastFlagged = days[i].Date
		if stretch == 0 {
			sh.FlaggedSince = days[i].Date
		}
		stretch++
		sh.LongestFlagged = max(sh.LongestFlagged, stretch)
	}
	sh.FlaggedNow = last >= 0 && sh.Status[last] == audit.StatusNeedsRotation
	if !sh.FlaggedNow {
		sh.FlaggedSince = time.Time{}
	}
}

// Quarter parses "2026Q4" into its first day and the first day after it.
func Quarter(q string) (from, to time.Time, err error) {
	bad := fmt.Errorf("quarter %q: want YEARQn, such as 2026Q4", q)
	if len(q) != 6 || (q[4] != 'Q' && q[4] != 'q') {
		return from, to, bad
	}
	year, err := strconv.Atoi(q[:4])
	n := int(q[5] - '0')
	if err != nil || n < 1 || n > 4 {
		return from, to, bad
	}
	from = time.Date(year, time.Month(3*(n-1)+1), 1, 0, 0, 0, 0, time.UTC)
	return from, from.AddDate(0, 3, 0), nil
}

// QuarterOf names the quarter t falls in.
func QuarterOf(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%dQ%d", t.Year(), (int(t.Month())-1)/3+1)
}

func itoa(n int) string { return strconv.Itoa(n) }
