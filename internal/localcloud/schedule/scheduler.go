// Package schedule is the embedded cloud's EventBridge Scheduler. Its Clock
// is the cloud's time: real time, optionally running faster, that a
// developer moves forward to see thirty days pass in a second. Its
// Scheduler fires the deployed schedules (rate, at and cron expressions, in
// their time zones) on that clock, with each target's retry policy and
// dead-letter queue. kumo stores schedules but never fires them.
//
// Locally the scheduler waits for each invocation to finish (a synchronous
// Invoke; the local cloud applies Lambda's asynchronous retries and failure
// destination behind it). So runs never overlap, fast clocks apply
// back-pressure instead of dropping fires, and Advance can report how many
// runs failed. A Poller (the event source mappings) runs on the same clock,
// in time order with the fires.
//
// It imports the standard library, package schedexpr (the expressions),
// package linewriter, and the SDK types of the two small interfaces it
// calls; it never talks to an emulator directly.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedulertypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/schedexpr"
)

// LambdaInvoker is the part of the Lambda client the scheduler uses.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// MessageSender is the part of the SQS client the scheduler uses for
// dead-letter queues.
type MessageSender interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var (
	_ LambdaInvoker = (*lambda.Client)(nil)
	_ MessageSender = (*sqs.Client)(nil)
)

// A Poller is work other than schedules that falls due on the cloud clock,
// such as the event source mappings polling their queues. The scheduler
// runs it in time order with the fires: in its loop as the clock reaches
// it, and in Advance at the cloud time it falls due.
type Poller interface {
	// Due is the earliest cloud time at which the poller has work; false
	// when it has none. After Poll(now) returns, Due must be after now
	// unless new work arrived, or an Advance would never end.
	Due() (time.Time, bool)
	// Poll does the work due at now and returns when it is done.
	Poll(ctx context.Context, now time.Time)
}

// DefaultMaxFires bounds the fires of one Advance.
const DefaultMaxFires = 50_000

// These mirror EventBridge Scheduler's documented defaults for a target
// without a RetryPolicy.
const (
	defaultMaximumRetryAttempts = 185
	defaultMaximumEventAge      = 86400 * time.Second
)

const (
	// maxRetryWait keeps retries of a failing target responsive at low
	// speeds, where a backoff of minutes would otherwise be a real one.
	maxRetryWait = time.Second
	// maxBackoff caps the exponential backoff between retries.
	maxBackoff = 5 * time.Minute
	// behindWarning is how far the fires may fall behind the clock before
	// the scheduler says so.
	behindWarning = 10 * time.Minute
)

// Options configure a Scheduler.
type Options struct {
	// Clock is the cloud time the schedules fire on.
	Clock *Clock
	// Lambda receives the invocations of Lambda targets.
	Lambda LambdaInvoker
	// SQS receives dead-lettered executions; nil drops them with a log line.
	SQS MessageSender
	// Logs gets one line per fire, failure or refusal, prefixed
	// "scheduler: "; nil discards them.
	Logs io.Writer
	// MaxFires bounds one Advance; zero means DefaultMaxFires.
	MaxFires int
	// Poller, if not nil, is run when it falls due; it calls Wake when
	// its work changes.
	Poller Poller
}

// Scheduler fires the schedules it is given the way EventBridge Scheduler
// would, on the cloud clock.
type Scheduler struct {
	clock    *Clock
	lambda   LambdaInvoker
	sqs      MessageSender
	poller   Poller
	logs     *linewriter.Synced
	maxFires int

	// firing is held for each fire, so fires never overlap.
	firing lock
	// moving is held for each move of the clock (Advance, Jump), from
	// reading where the clock is to the end of the move, so that moves
	// made at the same time each get their full span, one after another.
	moving lock

	// mu guards the fields below. Picking the next fire and moving its
	// schedule on happen together under it, so no fire is taken twice and
	// none starts for a schedule after Remove returns.
	mu        sync.Mutex
	armed     map[string]*entry
	advancing bool // the loop stands aside while Advance fires
	closed    bool
	warned    bool // the loop has said it runs behind

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// entry is one armed schedule and its next fire time.
type entry struct {
	label     string // the name, or group/name outside the default group
	arn       string
	targetARN string
	input     string
	retry     *schedulertypes.RetryPolicy
	dlqARN    string
	occ       schedexpr.Occurrences
	next      time.Time // zero when it will not fire again
}

// New returns a running scheduler with nothing armed.
func New(opts Options) *Scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{
		clock:    opts.Clock,
		lambda:   opts.Lambda,
		sqs:      opts.SQS,
		poller:   opts.Poller,
		logs:     linewriter.NewSynced(opts.Logs),
		maxFires: opts.MaxFires,
		armed:    map[string]*entry{},
		firing:   newLock(),
		moving:   newLock(),
		wake:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	if s.maxFires <= 0 {
		s.maxFires = DefaultMaxFires
	}
	go s.loop()
	return s
}

// Clock is the cloud clock the scheduler fires on.
func (s *Scheduler) Clock() *Clock { return s.clock }

// Set arms (or re-arms, replacing the previous definition) the schedule
// described by a GetSchedule response. The old definition is always
// disarmed first, so a schedule updated to something the scheduler refuses
// stops firing. It returns an error for a schedule that cannot run, such as
// an invalid expression. A DISABLED schedule, and one whose target is not a
// Lambda function, is disarmed with a log line rather than an error: the
// template is valid, only the local cloud cannot deliver it.
func (s *Scheduler) Set(out *scheduler.GetScheduleOutput) error {
	if out == nil || aws.ToString(out.Name) == "" {
		return errors.New("set schedule: missing name")
	}
	group, name := aws.ToString(out.GroupName), aws.ToString(out.Name)
	key, label := scheduleKey(group, name), scheduleLabel(group, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("schedule %s: the scheduler is closed", label)
	}
	delete(s.armed, key)
	s.poke()

	e, err := s.newEntry(out, label)
	if err != nil {
		s.logf("%s will not fire: %v", label, err)
		return fmt.Errorf("schedule %s: %w", label, err)
	}
	switch {
	case out.State == schedulertypes.ScheduleStateDisabled:
		s.logf("%s is disabled; it will not fire", label)
	case !isLambdaARN(e.targetARN):
		s.logf("%s targets %s, which is not supported locally (only Lambda functions are); it will not fire", label, e.targetARN)
	case e.next.IsZero():
		s.logf("%s %s has no fire time after %s; it will not fire", label, e.occ.Expr, formatTime(s.clock.Now()))
	default:
		s.armed[key] = e
		s.logf("%s armed %s, first fire %s", label, e.occ.Expr, formatTime(e.next))
	}
	return nil
}

// newEntry reads a schedule's definition and its first fire time.
func (s *Scheduler) newEntry(out *scheduler.GetScheduleOutput, label string) (*entry, error) {
	expr, err := schedexpr.Parse(aws.ToString(out.ScheduleExpression))
	if err != nil {
		return nil, err
	}
	loc, err := schedexpr.Location(aws.ToString(out.ScheduleExpressionTimezone))
	if err != nil {
		return nil, err
	}
	if out.Target == nil || aws.ToString(out.Target.Arn) == "" {
		return nil, errors.New("missing target")
	}
	e := &entry{
		label:     label,
		arn:       aws.ToString(out.Arn),
		targetARN: aws.ToString(out.Target.Arn),
		input:     aws.ToString(out.Target.Input),
		retry:     out.Target.RetryPolicy,
		occ:       schedexpr.Occurrences{Expr: expr, Loc: loc, Start: aws.ToTime(out.StartDate), End: aws.ToTime(out.EndDate)},
	}
	if out.Target.DeadLetterConfig != nil {
		e.dlqARN = aws.ToString(out.Target.DeadLetterConfig.Arn)
		if e.dlqARN != "" {
			if _, _, err := parseQueueARN(e.dlqARN); err != nil {
				return nil, err
			}
		}
	}
	if isLambdaARN(e.targetARN) && s.lambda == nil {
		return nil, errors.New("the scheduler has no Lambda client")
	}
	if e.arn == "" {
		e.arn = scheduleARN(e.targetARN, aws.ToString(out.GroupName), aws.ToString(out.Name))
	}
	e.next = e.occ.First(s.clock.Now())
	return e, nil
}

// Remove disarms a schedule (group "" means "default"). No fire of it
// starts after Remove returns; one already running finishes.
func (s *Scheduler) Remove(group, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.armed, scheduleKey(group, name))
	s.poke()
}

// Armed describes one armed schedule.
type Armed struct {
	Name       string    `json:"name"`
	Expression string    `json:"expression"`
	NextFire   time.Time `json:"next_fire"`
}

// Schedules lists the armed schedules, soonest first.
func (s *Scheduler) Schedules() []Armed {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Armed
	for _, e := range s.armed {
		out = append(out, Armed{Name: e.label, Expression: e.occ.Expr.String(), NextFire: e.next})
	}
	slices.SortFunc(out, func(a, b Armed) int {
		if c := a.NextFire.Compare(b.NextFire); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Report is what one Advance did.
type Report struct {
	From, To time.Time
	// Fired counts the schedule executions delivered; Failed counts those
	// whose function failed or that could not be delivered.
	Fired, Failed int
	Took          time.Duration
}

// ErrTooManyFires is wrapped by an Advance refused for firing too much.
var ErrTooManyFires = errors.New("too many fires for one advance")

// A Target is where a move takes the clock, given the cloud time when the
// move starts: after any move made before it has finished.
type Target func(now time.Time) time.Time

// At is the target t, whenever the move starts.
func At(t time.Time) Target { return func(time.Time) time.Time { return t } }

// By is the target d after the cloud time when the move starts, so that
// two moves By(3 days) made at the same time take the clock 6 days on.
func By(d time.Duration) Target { return func(now time.Time) time.Time { return now.Add(d) } }

// Advance moves the clock forward to the cloud time to, firing every
// occurrence of every armed schedule in between, in time order, each at
// its own scheduled time (the clock reads that time while it runs). It
// returns when they have all run. Moves happen one at a time: Advance
// waits for a move in progress to finish (or ctx to end) before it reads
// the clock and resolves to. Moving backwards is an error, and so is an
// advance that would fire more than MaxFires times; neither moves the
// clock or fires anything.
func (s *Scheduler) Advance(ctx context.Context, to Target) (Report, error) {
	if err := s.moving.acquire(ctx); err != nil {
		return Report{}, fmt.Errorf("wait for the move in progress: %w", err)
	}
	defer s.moving.release()
	start := time.Now()
	from := s.clock.Now()
	rep := Report{From: from, To: to(from)}
	if err := CheckForward(from, rep.To); err != nil {
		return rep, err
	}
	if n := s.count(rep.To, s.maxFires+1); n > s.maxFires {
		return rep, fmt.Errorf("%w: moving to %s would fire more than %d schedule executions; advance in smaller steps",
			ErrTooManyFires, formatTime(rep.To), s.maxFires)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)() // Close stops an advance too
	s.setAdvancing(true)
	defer s.setAdvancing(false)

	for ctx.Err() == nil {
		s.firing.hold()
		if at, ok := s.pollDue(rep.To, true); ok {
			if at.After(s.clock.Now()) {
				_ = s.clock.set(at) // forward, checked just above
			}
			s.poller.Poll(ctx, s.clock.Now())
			s.firing.release()
			continue
		}
		e, at := s.take(rep.To, true)
		if e == nil {
			s.firing.release()
			break
		}
		if at.After(s.clock.Now()) {
			_ = s.clock.set(at) // forward, checked just above
		}
		ok := s.fire(ctx, e, at, true)
		s.firing.release()
		rep.Fired++
		if !ok {
			rep.Failed++
		}
	}
	rep.Took = time.Since(start)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("advance stopped after %d fires: %w", rep.Fired, err)
	}
	if rep.To.After(s.clock.Now()) {
		_ = s.clock.set(rep.To)
	}
	return rep, nil
}

// Jump moves the clock forward to to without firing: every schedule goes
// on from its first fire after to. It is for scenarios that need time to
// pass but not the runs in between; Advance is the faithful move. Like
// Advance, it waits for a move in progress to finish.
func (s *Scheduler) Jump(ctx context.Context, to Target) (Report, error) {
	if err := s.moving.acquire(ctx); err != nil {
		return Report{}, fmt.Errorf("wait for the move in progress: %w", err)
	}
	defer s.moving.release()
	from := s.clock.Now()
	rep := Report{From: from, To: to(from)}
	if err := s.clock.set(rep.To); err != nil {
		return rep, err
	}
	s.mu.Lock()
	for key, e := range s.armed {
		for !e.next.IsZero() && !e.next.After(rep.To) {
			e.next = e.occ.After(e.next)
		}
		if e.next.IsZero() {
			delete(s.armed, key)
		}
	}
	s.mu.Unlock()
	s.poke()
	return rep, nil
}

// Close disarms everything, stops the loop and waits for a fire or an
// advance in flight, whose calls see their context canceled.
func (s *Scheduler) Close() {
	s.mu.Lock()
	s.closed = true
	s.armed = map[string]*entry{}
	s.mu.Unlock()
	s.cancel()
	<-s.done
	s.moving.hold()
	s.moving.release()
}

// loop fires schedules as the clock reaches them, one after another.
func (s *Scheduler) loop() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		for s.fireDue() {
		}
		var tick <-chan time.Time
		if wait, ok := s.untilNext(); ok {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-tick:
		}
		timer.Stop()
	}
}

// fireDue fires the earliest schedule that is due, if any.
func (s *Scheduler) fireDue() bool {
	s.firing.hold()
	defer s.firing.release()
	now := s.clock.Now()
	if _, ok := s.pollDue(now, false); ok {
		s.poller.Poll(s.ctx, now)
		return true
	}
	e, at := s.take(now, false)
	if e == nil {
		return false
	}
	if late := now.Sub(at); late > behindWarning && !s.warned {
		s.warned = true
		s.logf("fires run %s behind the clock: at %gx the functions cannot keep up; every fire still runs, in order", late.Round(time.Second), s.clock.Speed())
	}
	s.fire(s.ctx, e, at, false)
	return true
}

// untilNext is the real time until the next fire; false when nothing is
// armed or an advance is firing.
func (s *Scheduler) untilNext() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.advancing {
		return 0, false
	}
	var next time.Time
	for _, e := range s.armed {
		if next.IsZero() || e.next.Before(next) {
			next = e.next
		}
	}
	if s.poller != nil {
		if due, ok := s.poller.Due(); ok && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return max(s.clock.realUntil(next), 0), true
}

// pollDue reports when the poller has work at or before limit, if that is
// no later than the next fire (polls go first on a tie, so messages sent by
// one run are handled before the next run starts). The loop polls nothing
// while an advance is running.
func (s *Scheduler) pollDue(limit time.Time, advance bool) (time.Time, bool) {
	if s.poller == nil {
		return time.Time{}, false
	}
	due, ok := s.poller.Due()
	if !ok || due.After(limit) {
		return time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.advancing && !advance {
		return time.Time{}, false
	}
	for _, e := range s.armed {
		if e.next.Before(due) {
			return time.Time{}, false
		}
	}
	return due, true
}

// Wake tells the scheduler that its poller's work changed, so the loop
// looks again at when it is due.
func (s *Scheduler) Wake() { s.poke() }

// take picks the earliest fire at or before limit, moves its schedule on to
// its following fire (disarming it if there is none) and returns what to
// fire. The loop takes nothing while an advance is firing.
func (s *Scheduler) take(limit time.Time, advance bool) (*entry, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.advancing && !advance {
		return nil, time.Time{}
	}
	var key string
	var best *entry
	for k, e := range s.armed {
		if e.next.After(limit) {
			continue
		}
		if best == nil || e.next.Before(best.next) || e.next.Equal(best.next) && k < key {
			key, best = k, e
		}
	}
	if best == nil {
		return nil, time.Time{}
	}
	at := best.next
	best.next = best.occ.After(at)
	if best.next.IsZero() {
		delete(s.armed, key)
		switch {
		case best.occ.Expr.Once():
			// an at() schedule fires once
		case !best.occ.End.IsZero():
			s.logf("%s reached its end date %s; it will not fire again", best.label, formatTime(best.occ.End))
		default:
			s.logf("%s %s has no fire time after %s; it will not fire again", best.label, best.occ.Expr, formatTime(at))
		}
	}
	fire := *best
	return &fire, at
}

// count counts the fires at or before limit, up to max.
func (s *Scheduler) count(limit time.Time, max int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.armed {
		for t := e.next; !t.IsZero() && !t.After(limit) && n < max; t = e.occ.After(t) {
			n++
		}
	}
	return n
}

func (s *Scheduler) setAdvancing(on bool) {
	s.mu.Lock()
	s.advancing = on
	s.mu.Unlock()
	s.poke()
}

// poke wakes the loop to look at the schedules and the clock again.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
