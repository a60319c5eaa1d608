package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/schedexpr"
)

// History is the evidence for a period: each secret's status day by day,
// and whether the control ran throughout. A day is judged by its last
// complete run. The statuses come from the state before the period and
// the changes in it (see ReadSecrets), so a quarter reads about secrets +
// changes + runs items, never every row of every day.
type History struct {
	Stack    string
	From, To time.Time // the period, To excluded
	// Until is where the evidence stops: To, or now for a period not over.
	Until time.Time
	// Schedule is the expression the expected runs come from.
	Schedule string
	Days     []Day
	Secrets  []SecretHistory
	// ControlStart is when the control began: the earlier of its first
	// complete run ever (FirstComplete) and its schedule's creation
	// (ScheduleCreated, zero when the schedule does not say). Runs are
	// expected from the later of From and ControlStart, so an outage at
	// the start of the period is a gap; a period that ends before
	// ControlStart expects nothing and has no gaps.
	ControlStart, FirstComplete, ScheduleCreated time.Time
	// Expected is how many runs the schedule should have completed from
	// the control's start until Until; Recorded how many of them did; Gaps
	// the missing ones, grouped into spans. Pending counts the fires too
	// recent to judge (younger than Grace, the function's timeout plus the
	// schedule's flexible window) whose run is not recorded yet: they are
	// not in Expected.
	Expected, Recorded, Pending int
	Grace                       time.Duration
	Gaps                        []Gap
	// Manual counts complete runs not sent by the scheduler; Failed runs
	// that did not complete.
	Manual, Failed int
	// Org says the period's runs are an organization hub's: its secrets
	// are keyed by ARN, each with its account and region, and a day whose
	// run had accounts not reporting leaves their secrets unseen that day.
	// ReadPeriod sets it from the store's mode or the run log.
	Org bool
	// Account, when set (ForAccount), limits Secrets, and the Days' counts,
	// to one account of an organization.
	Account string

	// complete are the period's complete runs so far, oldest first: what
	// ReadSecrets reads the statuses from.
	complete []completeRun
}

// completeRun is a complete run of the period, and whether it recorded
// its changes (its rows carry them, and the change index holds them), and
// whether units of it failed (organization mode).
type completeRun struct {
	id      string
	changes bool
	failed  bool
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
	// ARN, AccountID and Region are set in organization mode, where a
	// secret is its ARN: one name may be several secrets.
	ARN, AccountID, Region string
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
}

// Gap is a span of expected runs that are missing: From and To are the
// times the first and the last of them were due, in the phase of the
// schedule as it ran before the gap.
type Gap struct {
	From    time.Time `json:"from"` // the first missing run
	To      time.Time `json:"to"`   // the last missing run
	Missing int       `json:"missing"`
}

// Schedule is the schedule the expected runs come from.
type Schedule struct {
	Expression, Timezone string
	// CreationDate is when the schedule was created (GetSchedule says):
	// the control exists from then on, even before its first run. Zero
	// when unknown; the control's start is then its first complete run,
	// and an outage before that run cannot be seen.
	CreationDate time.Time
	// FlexibleWindow is the schedule's flexible time window (zero when
	// OFF): a fire may start that long after its time.
	FlexibleWindow time.Duration
	// Timeout is the function's timeout; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout is the function's Timeout in template.yaml (300 s): a run
// may still be in progress that long after it starts.
const DefaultTimeout = 300 * time.Second

// Grace is how long after a fire its run may still be under way: the
// flexible window, then the function's timeout. A fire younger than that
// without a recorded run is pending, not missing.
func (s Schedule) Grace() time.Duration {
	if s.Timeout <= 0 {
		return s.FlexibleWindow + DefaultTimeout
	}
	return s.FlexibleWindow + s.Timeout
}

// ErrNotStarted is wrapped by BuildHistory for a period that starts after
// now: it holds no evidence yet.
var ErrNotStarted = errors.New("the period has not started")

// maxExpected bounds the expected runs a period can have (a year of
// rate(1 minute) is 525,600).
const maxExpected = 1_000_000

// BuildHistory reads the evidence for [from, to) as of now: the run log's
// part (ReadPeriod), then each secret's status day by day (ReadSecrets).
// It wraps ErrNotStarted for a period that has not started, and ErrNoRuns
// when the control has never completed a run; the History returned with
// ErrNoRuns has its Days, none judged, and its Lines say the control never
// ran.
func BuildHistory(ctx context.Context, s *Store, stack string, from, to, now time.Time, sched Schedule) (History, error) {
	h, err := ReadPeriod(ctx, s, stack, from, to, now, sched)
	if err != nil {
		return h, err
	}
	return h, h.ReadSecrets(ctx, s)
}

// ReadPeriod reads the run log's part of the evidence for [from, to) as of
// now: the control's start, the runs expected and recorded, the gaps and
// each day's run, all from the run log (a Query per month, and one for the
// control's first run). It leaves Secrets empty; ReadSecrets reads them.
// Its errors are BuildHistory's.
func ReadPeriod(ctx context.Context, s *Store, stack string, from, to, now time.Time, sched Schedule) (History, error) {
	h := History{Stack: stack, From: from.UTC(), To: to.UTC(), Until: to.UTC(), Schedule: sched.Expression,
		ScheduleCreated: sched.CreationDate.UTC(), Grace: sched.Grace()}
	if now.Before(from) {
		return h, fmt.Errorf("%w: it starts at %s, and it is %s", ErrNotStarted, stamp(from), stamp(now))
	}
	if now.Before(to) {
		h.Until = now.UTC()
	}
	first, err := s.FirstRun(ctx)
	if errors.Is(err, ErrNoRuns) {
		h.pickDays(nil) // a page can still draw the empty period
		return h, fmt.Errorf("the control has never completed a run for stack %s (%w)", stack, err)
	}
	if err != nil {
		return h, err
	}
	if h.FirstComplete, err = tables.ParseRunID(first.RunID); err != nil {
		return h, fmt.Errorf("first run: %w", err)
	}
	h.ControlStart = h.FirstComplete
	if !h.ScheduleCreated.IsZero() && h.ScheduleCreated.Before(h.ControlStart) {
		h.ControlStart = h.ScheduleCreated
	}
	logged, err := s.runLog(ctx, from, h.Until)
	if err != nil {
		return h, err
	}
	h.Org = s.Org || first.Organization()
	runs := make([]audit.RunEntry, len(logged))
	for i, r := range logged {
		runs[i] = r.RunEntry
		h.Org = h.Org || r.Organization()
		if r.Complete {
			h.complete = append(h.complete, completeRun{id: r.RunID, changes: r.New != nil, failed: r.UnitsFailed > 0})
		}
	}
	slices.SortFunc(h.complete, func(a, b completeRun) int { return cmp.Compare(a.id, b.id) })
	if err := h.countRuns(runs, sched, now); err != nil {
		return h, err
	}
	h.pickDays(runs)
	return h, nil
}

// SecretsKey names what ReadSecrets reads for this History: the period,
// its days so far and its complete runs. Two Histories with the same key
// have the same Secrets, so a reader may share them until a run lands.
func (h History) SecretsKey() string {
	last := ""
	if len(h.complete) > 0 {
		last = h.complete[len(h.complete)-1].id
	}
	return fmt.Sprintf("%s/%s/%d/%d/%s", stamp(h.From), stamp(h.To), len(h.Days), len(h.complete), last)
}

// ReadSecrets reads each secret's status day by day, as each day's last
// complete run judged it, and sorts the secrets: flagged now first, then
// by days flagged, then by name. It reads the state before the period and
// the changes in it, not every row of every day:
//
//   - the rows of the last complete run before the period (one Query of the
//     run index, paged, projecting four attributes);
//   - the rows whose change is not unchanged of the period's complete runs
//     (the change index: one Query per month, paged);
//
// so its items read grow with secrets + changes + runs, not with days x
// secrets. Each complete run's changes move the state on; each day takes
// the state after its last complete run. A run logged without its changes
// (written before rows carried them) breaks that chain: the next day's run
// is then read in full, as before, and the chain starts again from it.
//
// In organization mode (Org) secrets are keyed by ARN, and a day whose run
// had units failed costs one more Query (its units): the secrets of an
// account and region not reporting that day are not seen that day. They
// keep their status: the unit's next run compares itself with its last
// done run, so its changes apply on top of it. When the run before the
// period had units failed, those units start from the same state
// (failedUnitsStart).
func (h *History) ReadSecrets(ctx context.Context, s *Store) error {
	if h.Org != s.Org {
		c := *s
		c.Org = h.Org
		s = &c
	}
	w := newWalk(h)
	if w.last == "" {
		return nil // no day judged
	}
	if err := w.read(ctx, s); err != nil {
		return err
	}
	h.Secrets = w.secrets(h)
	slices.SortFunc(h.Secrets, bySeverity)
	return nil
}

// bySeverity orders secrets flagged now first, then by days flagged, then
// by name.
func bySeverity(a, b SecretHistory) int {
	if a.FlaggedNow != b.FlaggedNow {
		if a.FlaggedNow {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.DaysFlagged, a.DaysFlagged); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ARN, b.ARN))
}

// ForAccount limits an organization history to one account: its secrets,
// and each day's checked and flagged counted from them (the run log's are
// the whole organization's). It returns ErrNoSuchAccount when no secret of
// the account was seen in the period.
func (h *History) ForAccount(account string) error {
	h.Account = account
	h.Secrets = slices.DeleteFunc(h.Secrets, func(s SecretHistory) bool { return s.AccountID != account })
	for i := range h.Days {
		h.Days[i].Checked, h.Days[i].Flagged = 0, 0
		for _, s := range h.Secrets {
			switch s.Status[i] {
			case "":
			case audit.StatusNeedsRotation:
				h.Days[i].Flagged++
				fallthrough
			default:
				h.Days[i].Checked++
			}
		}
	}
	if len(h.Secrets) == 0 {
		return fmt.Errorf("%w: no secret of account %s was seen in the period", ErrNoSuchAccount, account)
	}
	return nil
}

// countRuns compares the runs recorded with those the schedule expected
// from the control's start (ControlStart, set before) until Until, and
// lists the gaps. An expected fire counts as recorded when a scheduled run
// falls nearer to it than to the fires around it. A rate() schedule counts
// from when it was created or last enabled, so after a redeploy or a
// re-enable its fires move: the fires expected follow the phase of the
// last run recorded before them, and a gap is reported at the times its
// runs were due. A fire younger than the grace (now - Grace) without a
// run is pending, not missing.
func (h *History) countRuns(runs []audit.RunEntry, sched Schedule, now time.Time) error {
	var recorded []time.Time
	for _, r := range runs {
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
		}
	}
	slices.SortFunc(recorded, time.Time.Compare)
	if !h.ControlStart.Before(h.Until) {
		return nil // the period is over before the control began
	}
	start := h.ControlStart
	if start.Equal(h.ScheduleCreated) && h.ScheduleCreated.Before(h.FirstComplete) {
		start = start.Add(time.Nanosecond) // a schedule does not fire when it is created
	}
	if h.From.After(start) {
		start = h.From
	}
	c := counter{h: h, pendingFrom: now.Add(-h.Grace)}
	expr, err := schedexpr.Parse(sched.Expression)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", sched.Expression, err)
	}
	if p := expr.Period(); p > 0 {
		c.walkRate(p, h.phase(start), start, recorded)
		return nil
	}
	expected, err := schedexpr.Fires(sched.Expression, sched.Timezone, start, start, h.Until, maxExpected)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", sched.Expression, err)
	}
	for i, t := range expected {
		lo, hi := window(expected, i)
		j, _ := slices.BinarySearchFunc(recorded, lo, time.Time.Compare)
		c.tally(t.UTC(), j < len(recorded) && recorded[j].Before(hi))
	}
	return nil
}

// phase is a fire time of a rate() schedule to count from: the latest of
// the control's first run and the schedule's creation at or before start,
// else the control's start.
func (h *History) phase(start time.Time) time.Time {
	anchor := h.ControlStart
	for _, t := range []time.Time{h.FirstComplete, h.ScheduleCreated} {
		if !t.IsZero() && !t.After(start) && t.After(anchor) {
			anchor = t
		}
	}
	return anchor
}

// counter tallies expected fires into a History.
type counter struct {
	h           *History
	pendingFrom time.Time // fires after it may still be running
	gap         *Gap
}

// tally counts one expected fire: recorded, pending or missing.
func (c *counter) tally(t time.Time, recorded bool) {
	h := c.h
	switch {
	case recorded:
		h.Expected++
		h.Recorded++
		c.gap = nil
		return
	case t.After(c.pendingFrom):
		h.Pending++
		return
	}
	h.Expected++
	if c.gap == nil {
		h.Gaps = append(h.Gaps, Gap{From: t})
		c.gap = &h.Gaps[len(h.Gaps)-1]
	}
	c.gap.To = t
	c.gap.Missing++
}

// walkRate walks a rate() schedule's fires from start until Until. Each
// fire matches the recorded runs within half a period of it; a match sets
// the phase of the fires that follow, so a fire keeps its due time until
// a run shows the schedule moved.
func (c *counter) walkRate(period time.Duration, anchor, start time.Time, recorded []time.Time) {
	t := anchor.Add(period * (start.Sub(anchor) / period))
	for t.Before(start) {
		t = t.Add(period)
	}
	i := 0
	for n := 0; t.Before(c.h.Until) && n < maxExpected; n++ {
		lo, hi := t.Add(-period/2), t.Add(period/2)
		for i < len(recorded) && recorded[i].Before(lo) {
			i++
		}
		if i < len(recorded) && recorded[i].Before(hi) {
			got := recorded[i]
			for i < len(recorded) && recorded[i].Before(hi) {
				i++ // one run per fire: more in its window are the same fire's
			}
			c.tally(t.UTC(), true)
			t = got.Add(period)
			continue
		}
		c.tally(t.UTC(), false)
		t = t.Add(period)
	}
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
