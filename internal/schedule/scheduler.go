package localcloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedulertypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
)

// LambdaInvoker is the part of the Lambda client the clock uses.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// MessageSender is the part of the SQS client the clock uses for dead-letter queues.
type MessageSender interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var (
	_ LambdaInvoker = (*lambda.Client)(nil)
	_ MessageSender = (*sqs.Client)(nil)
)

// ClockOptions configure a Clock.
type ClockOptions struct {
	// Speed is simulated seconds per real second; 0 or 1 means real time,
	// 3600 makes rate(1 hour) fire every real second. Negative values are
	// treated as real time.
	Speed float64
	// Lambda receives the invocations of Lambda targets.
	Lambda LambdaInvoker
	// SQS receives dead-lettered executions; nil drops them with a log line.
	SQS MessageSender
	// Logs gets one human-readable line per fire, failure or refusal,
	// prefixed "clock: "; nil discards them.
	Logs io.Writer
	// Now is the real clock; nil means time.Now.
	Now func() time.Time
}

// These mirror EventBridge Scheduler's documented defaults for a target
// without a RetryPolicy.
const (
	defaultMaximumRetryAttempts = 185
	defaultMaximumEventAge      = 86400 * time.Second
)

const (
	// clockMaxWait bounds one real sleep so that a schedule also notices an
	// injected Now that does not advance with the real clock.
	clockMaxWait = time.Second
	// clockMaxRetryWait keeps retries of a failing target responsive at low
	// speeds, where a simulated backoff of minutes would otherwise be a real one.
	clockMaxRetryWait = time.Second
	// clockMaxBackoff caps the simulated exponential backoff between retries.
	clockMaxBackoff = 5 * time.Minute
)

// Clock fires the schedules it is given the way EventBridge Scheduler would,
// on a simulated timeline that runs Speed times faster than the real one.
// kumo stores schedules but never fires them; the clock is what makes a
// deployed schedule do something locally.
type Clock struct {
	speed  float64
	lambda LambdaInvoker
	sqs    MessageSender
	now    func() time.Time
	epoch  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards armed and closed. It is held while a replaced schedule's
	// goroutine winds down, which is safe because those goroutines never take it.
	mu     sync.Mutex
	armed  map[string]*armedSchedule
	closed bool

	logMu sync.Mutex
	logs  io.Writer
}

// armedSchedule is one running schedule: the definition its goroutine fires
// and the means to stop it.
type armedSchedule struct {
	name      string // for log lines: the name, or group/name outside the default group
	arn       string
	targetARN string
	input     string
	retry     *schedulertypes.RetryPolicy
	dlqARN    string

	period time.Duration // zero for a one-time at() schedule
	first  time.Time     // simulated time of the first fire
	end    time.Time     // zero for no EndDate

	cancel context.CancelFunc
	done   chan struct{}
}

// NewClock returns a clock whose simulated timeline starts at the real time
// of the call. It arms nothing until Set is called.
func NewClock(opts ClockOptions) *Clock {
	speed := opts.Speed
	if speed <= 0 || math.IsNaN(speed) || math.IsInf(speed, 0) {
		speed = 1
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	logs := opts.Logs
	if logs == nil {
		logs = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Clock{
		speed:  speed,
		lambda: opts.Lambda,
		sqs:    opts.SQS,
		now:    now,
		epoch:  now(),
		ctx:    ctx,
		cancel: cancel,
		armed:  make(map[string]*armedSchedule),
		logs:   logs,
	}
}

// Set arms (or re-arms, replacing the previous definition) the schedule
// described by a GetSchedule response. It returns an error, and changes
// nothing, for a schedule the clock cannot run, such as a cron() expression.
// A schedule whose State is DISABLED is disarmed. A schedule whose target is
// not a Lambda function is disarmed with a log line rather than an error,
// because the template is valid; only the local cloud cannot deliver it.
func (c *Clock) Set(s *scheduler.GetScheduleOutput) error {
	if s == nil || aws.ToString(s.Name) == "" {
		return errors.New("set schedule: missing name")
	}
	group, name := aws.ToString(s.GroupName), aws.ToString(s.Name)
	key := clockKey(group, name)
	label := clockLabel(group, name)
	expr := aws.ToString(s.ScheduleExpression)

	parsed, err := parseScheduleExpression(expr)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", label, err)
	}
	if parsed.kind == "cron" {
		return fmt.Errorf("schedule %s: %s: cron() expressions are not supported locally; use rate() or at()", label, expr)
	}
	var at time.Time
	if parsed.kind == "at" {
		zone := aws.ToString(s.ScheduleExpressionTimezone)
		if zone == "" {
			zone = "UTC"
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return fmt.Errorf("schedule %s: timezone %q: %w", label, zone, err)
		}
		// The wall clock of at() is read in the schedule's zone, as AWS does.
		w := parsed.at
		at = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
	}
	if s.Target == nil || aws.ToString(s.Target.Arn) == "" {
		return fmt.Errorf("schedule %s: missing target", label)
	}
	targetARN := aws.ToString(s.Target.Arn)
	var dlqARN string
	if s.Target.DeadLetterConfig != nil {
		dlqARN = aws.ToString(s.Target.DeadLetterConfig.Arn)
		if dlqARN != "" {
			if _, _, err := clockParseQueueARN(dlqARN); err != nil {
				return fmt.Errorf("schedule %s: %w", label, err)
			}
		}
	}
	lambdaTarget := clockIsLambdaARN(targetARN)
	if lambdaTarget && c.lambda == nil {
		return fmt.Errorf("schedule %s: clock has no Lambda client", label)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("schedule %s: clock is closed", label)
	}
	c.disarmLocked(key)

	if s.State == schedulertypes.ScheduleStateDisabled {
		c.logf("%s is disabled; it will not fire", label)
		return nil
	}
	if !lambdaTarget {
		c.logf("%s targets %s, which is not supported locally (only Lambda functions are); it will not fire", label, targetARN)
		return nil
	}

	// FlexibleTimeWindow is ignored on purpose: a local run is easier to
	// follow when every fire happens exactly at its scheduled time, and a
	// flexible window only ever moves a fire later within the window.
	a := &armedSchedule{
		name:      label,
		arn:       aws.ToString(s.Arn),
		targetARN: targetARN,
		input:     aws.ToString(s.Target.Input),
		retry:     s.Target.RetryPolicy,
		dlqARN:    dlqARN,
	}
	if a.arn == "" {
		a.arn = clockScheduleARN(targetARN, group, name)
	}
	simNow := c.simNow()
	switch parsed.kind {
	case "rate":
		base := simNow
		if s.StartDate != nil && s.StartDate.After(base) {
			base = *s.StartDate
		}
		a.period = parsed.period
		a.first = clockCeilSecond(base).Add(parsed.period)
		if s.EndDate != nil {
			a.end = *s.EndDate
		}
	case "at":
		// AWS ignores StartDate and EndDate for one-time schedules.
		if at.Before(simNow) {
			c.logf("%s %s is already past (simulated now %s); it will not fire", label, expr, formatSchedulerTime(simNow))
			return nil
		}
		a.first = at
	}

	ctx, cancel := context.WithCancel(c.ctx)
	a.cancel = cancel
	a.done = make(chan struct{})
	c.armed[key] = a
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(a.done)
		c.run(ctx, a)
	}()
	c.logf("%s armed %s, first fire %s", label, expr, formatSchedulerTime(a.first))
	return nil
}

// Remove disarms a schedule (group "" means "default"). It returns once the
// schedule's goroutine has stopped, so no fire starts after it returns.
func (c *Clock) Remove(group, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disarmLocked(clockKey(group, name))
}

// Close disarms everything and waits for in-flight fires to finish; an
// in-flight Lambda or SQS call sees its context canceled.
func (c *Clock) Close() {
	c.mu.Lock()
	c.closed = true
	c.armed = make(map[string]*armedSchedule)
	c.cancel()
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Clock) disarmLocked(key string) {
	a, ok := c.armed[key]
	if !ok {
		return
	}
	delete(c.armed, key)
	a.cancel()
	<-a.done
}

// run fires a schedule at each of its times in turn, so fires of one
// schedule never overlap: a fire that runs late delays the next one.
func (c *Clock) run(ctx context.Context, a *armedSchedule) {
	next := a.first
	for {
		if !a.end.IsZero() && !next.Before(a.end) {
			c.logf("%s reached its end date %s; it will not fire again", a.name, formatSchedulerTime(a.end))
			return
		}
		if !c.sleepUntil(ctx, next) {
			return
		}
		c.fire(ctx, a, next)
		if ctx.Err() != nil || a.period == 0 {
			return
		}
		next = next.Add(a.period)
	}
}

// fire delivers one execution, retrying a failed Invoke call as the target's
// RetryPolicy allows and then handing it to the dead-letter queue.
func (c *Clock) fire(ctx context.Context, a *armedSchedule, scheduled time.Time) {
	maxRetries, maxAge := clockRetryLimits(a.retry)
	attrs := ContextAttributes{
		ScheduledTime: scheduled,
		ExecutionID:   uuid.NewString(),
		ScheduleARN:   a.arn,
	}
	input := a.input
	if input == "" {
		input = "{}"
	}
	for attrs.AttemptNumber = 1; ; attrs.AttemptNumber++ {
		payload := FillInput(input, attrs)
		_, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{
			FunctionName: aws.String(a.targetARN),
			// Scheduler invokes Lambda targets asynchronously.
			InvocationType: lambdatypes.InvocationTypeEvent,
			Payload:        []byte(payload),
		})
		if err == nil {
			c.logf("%s fired %s (scheduled %s, attempt %d)", a.name, a.targetARN, formatSchedulerTime(scheduled), attrs.AttemptNumber)
			return
		}
		if ctx.Err() != nil {
			return // disarmed or closed: the failure is ours, not the target's
		}
		retries := attrs.AttemptNumber - 1
		condition := ""
		backoff := clockRetryBackoff(attrs.AttemptNumber)
		switch {
		case retries >= maxRetries:
			condition = "MaximumRetryAttempts"
		case c.simNow().Add(backoff).Sub(scheduled) > maxAge:
			condition = "MaximumEventAgeInSeconds"
		}
		if condition == "" {
			c.logf("%s attempt %d of execution %s failed: %v; retrying", a.name, attrs.AttemptNumber, attrs.ExecutionID, err)
			if !c.sleepSim(ctx, backoff) {
				return
			}
			continue
		}
		c.logf("%s attempt %d of execution %s failed: %v; giving up (%s)", a.name, attrs.AttemptNumber, attrs.ExecutionID, err, condition)
		c.deadLetter(ctx, a, payload, attrs, retries, condition, err)
		return
	}
}

// deadLetter sends an execution that exhausted its retries to the target's
// dead-letter queue with the message attributes EventBridge Scheduler sets.
func (c *Clock) deadLetter(ctx context.Context, a *armedSchedule, payload string, attrs ContextAttributes, retries int, condition string, cause error) {
	if a.dlqARN == "" {
		c.logf("%s dropped execution %s after %d retries: no dead-letter queue", a.name, attrs.ExecutionID, retries)
		return
	}
	if c.sqs == nil {
		c.logf("%s dropped execution %s after %d retries: clock has no SQS client for %s", a.name, attrs.ExecutionID, retries, a.dlqARN)
		return
	}
	queue, account, _ := clockParseQueueARN(a.dlqARN)
	if err := c.sendDeadLetter(ctx, a, queue, account, payload, attrs, retries, condition, cause); err != nil {
		if ctx.Err() != nil {
			return
		}
		c.logf("%s could not dead-letter execution %s to %s: %v", a.name, attrs.ExecutionID, queue, err)
		return
	}
	c.logf("%s sent execution %s to dead-letter queue %s after %d retries", a.name, attrs.ExecutionID, queue, retries)
}

func (c *Clock) sendDeadLetter(ctx context.Context, a *armedSchedule, queue, account, payload string, attrs ContextAttributes, retries int, condition string, cause error) error {
	out, err := c.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{
		QueueName:              aws.String(queue),
		QueueOwnerAWSAccountId: aws.String(account),
	})
	if err != nil {
		return fmt.Errorf("get queue url: %w", err)
	}
	str := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err = c.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    out.QueueUrl,
		MessageBody: aws.String(payload),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"ERROR_CODE":                str(clockErrorCode(cause)),
			"ERROR_MESSAGE":             str(clockTruncate(cause.Error(), 1024)),
			"EXECUTION_ID":              str(attrs.ExecutionID),
			"RETRY_ATTEMPTS":            str(strconv.Itoa(retries)),
			"EXHAUSTED_RETRY_CONDITION": str(condition),
			"SCHEDULE_ARN":              str(a.arn),
			"TARGET_ARN":                str(a.targetARN),
			"SCHEDULED_TIME":            str(formatSchedulerTime(attrs.ScheduledTime)),
		},
	})
	if err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	return nil
}

// simNow is the simulated time: it started at the real time of NewClock and
// runs speed times faster, shared by every schedule of the clock.
func (c *Clock) simNow() time.Time {
	elapsed := c.now().Sub(c.epoch)
	return c.epoch.Add(clockScale(elapsed, c.speed))
}

// sleepUntil waits until simulated time reaches t; false means ctx ended first.
func (c *Clock) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		wait := clockScale(t.Sub(c.simNow()), 1/c.speed)
		if wait <= 0 {
			return ctx.Err() == nil
		}
		if !clockSleep(ctx, min(wait, clockMaxWait)) {
			return false
		}
	}
}

// sleepSim waits a simulated duration, but never longer than clockMaxRetryWait
// of real time; false means ctx ended first.
func (c *Clock) sleepSim(ctx context.Context, d time.Duration) bool {
	return clockSleep(ctx, min(clockScale(d, 1/c.speed), clockMaxRetryWait))
}

func clockSleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func (c *Clock) logf(format string, args ...any) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintf(c.logs, "clock: "+format+"\n", args...)
}

// ContextAttributes are the values of EventBridge Scheduler's context
// attributes for one attempt of one execution.
type ContextAttributes struct {
	ScheduledTime time.Time
	ExecutionID   string
	AttemptNumber int
	ScheduleARN   string
}

// FillInput replaces EventBridge Scheduler's context attributes in a target
// Input: <aws.scheduler.scheduled-time> (RFC 3339, UTC, whole seconds),
// <aws.scheduler.execution-id>, <aws.scheduler.attempt-number> and
// <aws.scheduler.schedule-arn>. Anything else is left as it is.
func FillInput(input string, a ContextAttributes) string {
	return strings.NewReplacer(
		"<aws.scheduler.scheduled-time>", formatSchedulerTime(a.ScheduledTime),
		"<aws.scheduler.execution-id>", a.ExecutionID,
		"<aws.scheduler.attempt-number>", strconv.Itoa(a.AttemptNumber),
		"<aws.scheduler.schedule-arn>", a.ScheduleARN,
	).Replace(input)
}

// ValidateScheduleExpression checks rate(), at() and cron() syntax the way
// EventBridge Scheduler does. The deployer calls it before CreateSchedule
// because kumo accepts anything, e.g. rate(banana). A cron() expression is
// only checked for its 6 fields, not evaluated.
func ValidateScheduleExpression(expr string) error {
	_, err := parseScheduleExpression(expr)
	return err
}

type scheduleExpression struct {
	kind   string        // "rate", "at" or "cron"
	period time.Duration // rate
	at     time.Time     // at: wall clock, to be read in the schedule's zone
}

var (
	rateExpression = regexp.MustCompile(`^rate\(([0-9]+) ([a-z]+)\)$`)
	atExpression   = regexp.MustCompile(`^at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)$`)
	cronExpression = regexp.MustCompile(`^cron\((.*)\)$`)
)

var rateUnits = map[string]struct {
	period   time.Duration
	singular bool
}{
	"minute":  {time.Minute, true},
	"minutes": {time.Minute, false},
	"hour":    {time.Hour, true},
	"hours":   {time.Hour, false},
	"day":     {24 * time.Hour, true},
	"days":    {24 * time.Hour, false},
}

func parseScheduleExpression(expr string) (scheduleExpression, error) {
	if expr == "" {
		return scheduleExpression{}, errors.New("empty schedule expression")
	}
	invalid := func(why string) (scheduleExpression, error) {
		return scheduleExpression{}, fmt.Errorf("invalid schedule expression %q: %s", expr, why)
	}
	switch {
	case strings.HasPrefix(expr, "rate("):
		m := rateExpression.FindStringSubmatch(expr)
		if m == nil {
			return invalid("want rate(value unit), e.g. rate(1 hour)")
		}
		value, err := strconv.Atoi(m[1])
		if err != nil || value <= 0 {
			return invalid("the value must be a positive integer")
		}
		unit, ok := rateUnits[m[2]]
		if !ok {
			return invalid("the unit must be minute(s), hour(s) or day(s)")
		}
		// AWS insists on the singular for 1 and the plural otherwise.
		if value == 1 && !unit.singular {
			return invalid(fmt.Sprintf("use %q for a value of 1", strings.TrimSuffix(m[2], "s")))
		}
		if value != 1 && unit.singular {
			return invalid(fmt.Sprintf("use %q for a value other than 1", m[2]+"s"))
		}
		if int64(value) > math.MaxInt64/int64(unit.period) {
			return invalid("the period is too long")
		}
		return scheduleExpression{kind: "rate", period: time.Duration(value) * unit.period}, nil
	case strings.HasPrefix(expr, "at("):
		m := atExpression.FindStringSubmatch(expr)
		if m == nil {
			return invalid("want at(yyyy-mm-ddThh:mm:ss)")
		}
		t, err := time.Parse("2006-01-02T15:04:05", m[1])
		if err != nil {
			return invalid("want at(yyyy-mm-ddThh:mm:ss)")
		}
		return scheduleExpression{kind: "at", at: t}, nil
	case strings.HasPrefix(expr, "cron("):
		m := cronExpression.FindStringSubmatch(expr)
		if m == nil {
			return invalid("want cron(minutes hours day-of-month month day-of-week year)")
		}
		if n := len(strings.Fields(m[1])); n != 6 {
			return invalid(fmt.Sprintf("cron() takes 6 space-separated fields, got %d", n))
		}
		return scheduleExpression{kind: "cron"}, nil
	}
	return invalid("want rate(...), at(...) or cron(...)")
}

func clockRetryLimits(p *schedulertypes.RetryPolicy) (retries int, age time.Duration) {
	retries, age = defaultMaximumRetryAttempts, defaultMaximumEventAge
	if p == nil {
		return retries, age
	}
	if p.MaximumRetryAttempts != nil {
		retries = int(max(*p.MaximumRetryAttempts, 0))
	}
	if p.MaximumEventAgeInSeconds != nil {
		age = time.Duration(*p.MaximumEventAgeInSeconds) * time.Second
	}
	return retries, age
}

// clockRetryBackoff is the simulated wait after a failed attempt: exponential
// from one second, capped, so a long outage is retried steadily.
func clockRetryBackoff(attempt int) time.Duration {
	if attempt > 20 {
		return clockMaxBackoff
	}
	return min(time.Second<<(attempt-1), clockMaxBackoff)
}

// clockScale multiplies in floating point and saturates, because a
// high speed times a long real span overflows time.Duration.
func clockScale(d time.Duration, f float64) time.Duration {
	v := float64(d) * f
	switch {
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(v)
}

func clockCeilSecond(t time.Time) time.Time {
	if s := t.Truncate(time.Second); !s.Equal(t) {
		return s.Add(time.Second)
	}
	return t
}

func formatSchedulerTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func clockKey(group, name string) string {
	if group == "" {
		group = "default"
	}
	return group + "/" + name
}

func clockLabel(group, name string) string {
	if group == "" || group == "default" {
		return name
	}
	return group + "/" + name
}

// clockIsLambdaARN reports whether arn names a Lambda function
// (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]).
func clockIsLambdaARN(arn string) bool {
	parts := strings.SplitN(arn, ":", 7)
	return len(parts) == 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" && parts[6] != ""
}

// clockParseQueueARN splits arn:PARTITION:sqs:REGION:ACCOUNT:QUEUE.
func clockParseQueueARN(arn string) (queue, account string, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[4] == "" || parts[5] == "" {
		return "", "", fmt.Errorf("dead-letter queue %q: want arn:aws:sqs:REGION:ACCOUNT:QUEUE", arn)
	}
	return parts[5], parts[4], nil
}

// clockScheduleARN builds a schedule ARN in the target's partition, region and
// account, for responses that lack one.
func clockScheduleARN(targetARN, group, name string) string {
	if group == "" {
		group = "default"
	}
	parts := strings.Split(targetARN, ":")
	if len(parts) < 5 {
		return fmt.Sprintf("arn:aws:scheduler:::schedule/%s/%s", group, name)
	}
	return fmt.Sprintf("arn:%s:scheduler:%s:%s:schedule/%s/%s", parts[1], parts[3], parts[4], group, name)
}

// errorCode names an error the way AWS error codes do when it carries one.
func clockErrorCode(err error) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		return coded.ErrorCode()
	}
	return "InvocationFailed"
}

// clockTruncate shortens s to at most n bytes without splitting a character,
// so a long error cannot bloat the dead-letter message.
func clockTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
