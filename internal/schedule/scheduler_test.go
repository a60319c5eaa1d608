package localcloud

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedulertypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/matryer/is"
)

const (
	// clockFast makes rate(1 hour) fire every real millisecond.
	clockFast        = 3600 * 1000
	clockFunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:rotcheck-check"
	clockQueueARN    = "arn:aws:sqs:us-east-1:123456789012:rotcheck-dlq"
	clockQueueURL    = "http://127.0.0.1:4566/123456789012/rotcheck-dlq"
	clockInput       = `{"time":"<aws.scheduler.scheduled-time>","id":"<aws.scheduler.execution-id>","attempt":"<aws.scheduler.attempt-number>","arn":"<aws.scheduler.schedule-arn>"}`
)

// clockBase is where the simulated timeline of most tests starts.
var clockBase = time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)

// clockLambda is a fake LambdaInvoker that records every call.
type clockLambda struct {
	mu       sync.Mutex
	calls    []*lambda.InvokeInput
	InvokeFn func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error)
}

func (f *clockLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, in)
	fn := f.InvokeFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, in)
	}
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

func (f *clockLambda) Calls() []*lambda.InvokeInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*lambda.InvokeInput(nil), f.calls...)
}

// clockSQS is a fake MessageSender that knows one queue.
type clockSQS struct {
	mu      sync.Mutex
	lookups []*sqs.GetQueueUrlInput
	sent    []*sqs.SendMessageInput
}

func (f *clockSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, in)
	if aws.ToString(in.QueueName) != "rotcheck-dlq" {
		return nil, errors.New("AWS.SimpleQueueService.NonExistentQueue")
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(clockQueueURL)}, nil
}

func (f *clockSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m-1")}, nil
}

func (f *clockSQS) Sent() ([]*sqs.GetQueueUrlInput, []*sqs.SendMessageInput) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sqs.GetQueueUrlInput(nil), f.lookups...), append([]*sqs.SendMessageInput(nil), f.sent...)
}

// clockAPIError stands in for an SDK error that carries an AWS error code.
type clockAPIError struct{ code, message string }

func (e clockAPIError) Error() string     { return e.code + ": " + e.message }
func (e clockAPIError) ErrorCode() string { return e.code }

// clockNow is a real clock shifted so that the simulated timeline starts at base.
func clockNow(base time.Time) func() time.Time {
	start := time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

func clockForTest(t *testing.T, speed float64, fn *clockLambda, queue *clockSQS, logs *lockedBuffer) *Clock {
	t.Helper()
	opts := ClockOptions{Speed: speed, Lambda: fn, Logs: &lockedBuffer{}, Now: clockNow(clockBase)}
	// A nil *clockSQS or *lockedBuffer in an interface would not be a nil interface.
	if queue != nil {
		opts.SQS = queue
	}
	if logs != nil {
		opts.Logs = logs
	}
	c := NewClock(opts)
	t.Cleanup(c.Close)
	return c
}

func clockSchedule(name, expr string) *scheduler.GetScheduleOutput {
	return &scheduler.GetScheduleOutput{
		Name:               aws.String(name),
		GroupName:          aws.String("default"),
		Arn:                aws.String("arn:aws:scheduler:us-east-1:123456789012:schedule/default/" + name),
		ScheduleExpression: aws.String(expr),
		State:              schedulertypes.ScheduleStateEnabled,
		FlexibleTimeWindow: &schedulertypes.FlexibleTimeWindow{Mode: schedulertypes.FlexibleTimeWindowModeOff},
		Target: &schedulertypes.Target{
			Arn:     aws.String(clockFunctionARN),
			RoleArn: aws.String("arn:aws:iam::123456789012:role/rotcheck-schedule"),
			Input:   aws.String(clockInput),
		},
	}
}

// clockEventually polls cond with a deadline far beyond what it needs, so a
// slow machine makes the test slower, not flaky.
func clockEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func clockPayload(t *testing.T, in *lambda.InvokeInput) map[string]string {
	t.Helper()
	var p map[string]string
	if err := json.Unmarshal(in.Payload, &p); err != nil {
		t.Fatalf("payload %q: %v", in.Payload, err)
	}
	return p
}

func TestValidateScheduleExpression(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		ok   bool
		want string // in the error
	}{
		{expr: "rate(1 minute)", ok: true},
		{expr: "rate(5 minutes)", ok: true},
		{expr: "rate(1 hour)", ok: true},
		{expr: "rate(12 hours)", ok: true},
		{expr: "rate(1 day)", ok: true},
		{expr: "rate(7 days)", ok: true},
		{expr: "rate(banana)", want: "rate(banana)"},
		{expr: "rate(0 hours)", want: "positive"},
		{expr: "rate(-1 hours)", want: "rate(-1 hours)"},
		{expr: "rate(1 hours)", want: `use "hour"`},
		{expr: "rate(2 hour)", want: `use "hours"`},
		{expr: "rate(1 week)", want: "unit"},
		{expr: "rate(1 hour", want: "rate(1 hour"},
		{expr: "at(2026-11-25T14:00:00)", ok: true},
		{expr: "at(2026-11-25 14:00)", want: "at(2026-11-25 14:00)"},
		{expr: "at(2026-02-30T00:00:00)", want: "at(2026-02-30T00:00:00)"},
		{expr: "at(2026-11-25T14:00:00Z)", want: "yyyy-mm-dd"},
		{expr: "at(2026-11-25T9:00:00)", want: "yyyy-mm-dd"},
		{expr: "at(2026-11-25T14:00:00.5)", want: "yyyy-mm-dd"},
		{expr: "cron(0 * * * ? *)", ok: true},
		{expr: "cron(15 10 ? * 6L 2026-2027)", ok: true},
		{expr: "cron(0 * * * ?)", want: "6"},
		{expr: "", want: "empty"},
		{expr: "every hour", want: "every hour"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			is := is.New(t)
			err := ValidateScheduleExpression(tt.expr)
			if tt.ok {
				is.NoErr(err) // a valid expression
				return
			}
			is.True(err != nil)                             // an invalid expression
			is.True(strings.Contains(err.Error(), tt.want)) // the error says what is wrong
		})
	}
}

func TestFillInput(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	newYork, err := time.LoadLocation("America/New_York")
	is.NoErr(err)
	got := FillInput(
		`{"t":"<aws.scheduler.scheduled-time>","id":"<aws.scheduler.execution-id>","n":<aws.scheduler.attempt-number>,"arn":"<aws.scheduler.schedule-arn>","again":"<aws.scheduler.scheduled-time>","other":"<aws.scheduler.unknown>","plain":"x"}`,
		ContextAttributes{
			ScheduledTime: time.Date(2026, 11, 25, 9, 0, 0, 500_000_000, newYork),
			ExecutionID:   "c0ffee00-0000-4000-8000-000000000001",
			AttemptNumber: 3,
			ScheduleARN:   "arn:aws:scheduler:us-east-1:123456789012:schedule/default/rotcheck-hourly",
		})
	is.Equal(got, `{"t":"2026-11-25T14:00:00Z","id":"c0ffee00-0000-4000-8000-000000000001","n":3,"arn":"arn:aws:scheduler:us-east-1:123456789012:schedule/default/rotcheck-hourly","again":"2026-11-25T14:00:00Z","other":"<aws.scheduler.unknown>","plain":"x"}`) // UTC whole seconds, every occurrence, others intact
}

func TestClockRefusesCron(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	c := clockForTest(t, clockFast, fn, nil, nil)
	err := c.Set(clockSchedule("rotcheck-cron", "cron(0 * * * ? *)"))
	is.True(err != nil)                                                                    // cron cannot run locally
	is.True(strings.Contains(err.Error(), "cron() expressions are not supported locally")) // says why
	is.True(strings.Contains(err.Error(), "rotcheck-cron"))                                // names the schedule
	time.Sleep(10 * time.Millisecond)
	is.Equal(len(fn.Calls()), 0) // nothing armed
}

func TestClockRefusesBadSchedules(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		edit func(s *scheduler.GetScheduleOutput)
		want string
	}{
		"malformed rate": {
			edit: func(s *scheduler.GetScheduleOutput) { s.ScheduleExpression = aws.String("rate(banana)") },
			want: "rate(banana)",
		},
		"malformed at": {
			edit: func(s *scheduler.GetScheduleOutput) { s.ScheduleExpression = aws.String("at(tomorrow)") },
			want: "at(tomorrow)",
		},
		"bad timezone": {
			edit: func(s *scheduler.GetScheduleOutput) {
				s.ScheduleExpression = aws.String("at(2026-11-26T09:00:00)")
				s.ScheduleExpressionTimezone = aws.String("Mars/Olympus_Mons")
			},
			want: "Mars/Olympus_Mons",
		},
		"no target": {
			edit: func(s *scheduler.GetScheduleOutput) { s.Target = nil },
			want: "target",
		},
		"bad dead-letter ARN": {
			edit: func(s *scheduler.GetScheduleOutput) {
				s.Target.DeadLetterConfig = &schedulertypes.DeadLetterConfig{Arn: aws.String("rotcheck-dlq")}
			},
			want: "rotcheck-dlq",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			fn := &clockLambda{}
			c := clockForTest(t, clockFast, fn, nil, nil)
			s := clockSchedule("rotcheck-bad", "rate(1 hour)")
			tt.edit(s)
			err := c.Set(s)
			is.True(err != nil)                             // refused
			is.True(strings.Contains(err.Error(), tt.want)) // the error names the culprit
			time.Sleep(10 * time.Millisecond)
			is.Equal(len(fn.Calls()), 0) // nothing armed
		})
	}
}

func TestClockRateFiresPeriodically(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	logs := &lockedBuffer{}
	c := clockForTest(t, clockFast, fn, nil, logs)
	s := clockSchedule("rotcheck-hourly", "rate(1 hour)")
	is.NoErr(c.Set(s))
	clockEventually(t, "four fires", func() bool { return len(fn.Calls()) >= 4 })
	c.Close()

	calls := fn.Calls()
	var prev time.Time
	ids := map[string]bool{}
	for i, call := range calls {
		is.Equal(aws.ToString(call.FunctionName), clockFunctionARN)    // the target ARN
		is.Equal(call.InvocationType, lambdatypes.InvocationTypeEvent) // asynchronous, as Scheduler invokes Lambda
		p := clockPayload(t, call)
		is.Equal(p["attempt"], "1")             // every fire succeeded first time
		is.Equal(p["arn"], aws.ToString(s.Arn)) // the schedule's ARN
		is.True(p["id"] != "" && !ids[p["id"]]) // a new execution ID per fire
		ids[p["id"]] = true
		at, err := time.Parse(time.RFC3339, p["time"])
		is.NoErr(err)                               // scheduled-time is RFC 3339
		is.True(strings.HasSuffix(p["time"], "Z"))  // in UTC
		is.True(at.Equal(at.Truncate(time.Second))) // whole seconds
		if i == 0 {
			is.True(!at.Before(clockBase.Add(time.Hour))) // first fire one period after arming
			is.True(at.Before(clockBase.Add(2 * time.Hour)))
			is.True(strings.Contains(logs.String(), "clock: rotcheck-hourly fired "+clockFunctionARN+" (scheduled "+p["time"]+", attempt 1)")) // logged
		} else {
			is.Equal(at.Sub(prev), time.Hour) // period-spaced
		}
		prev = at
	}
}

func TestClockAtFiresOnce(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	c := clockForTest(t, clockFast, fn, nil, nil)
	s := clockSchedule("rotcheck-once", "at(2026-11-26T13:00:00)")
	s.Target.Input = nil
	is.NoErr(c.Set(s))
	clockEventually(t, "the fire", func() bool { return len(fn.Calls()) >= 1 })
	time.Sleep(30 * time.Millisecond) // 30 simulated hours
	calls := fn.Calls()
	is.Equal(len(calls), 1)                  // fired exactly once
	is.Equal(string(calls[0].Payload), "{}") // empty Input sends an empty object
}

func TestClockAtInTimezone(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	c := clockForTest(t, clockFast, fn, nil, nil)
	s := clockSchedule("rotcheck-ny", "at(2026-11-26T09:00:00)")
	s.ScheduleExpressionTimezone = aws.String("America/New_York")
	is.NoErr(c.Set(s))
	clockEventually(t, "the fire", func() bool { return len(fn.Calls()) >= 1 })
	is.Equal(clockPayload(t, fn.Calls()[0])["time"], "2026-11-26T14:00:00Z") // 09:00 EST is 14:00 UTC
}

func TestClockAtInThePastDoesNotFire(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	logs := &lockedBuffer{}
	c := clockForTest(t, clockFast, fn, nil, logs)
	is.NoErr(c.Set(clockSchedule("rotcheck-late", "at(2026-11-25T12:00:00)")))
	time.Sleep(20 * time.Millisecond)
	is.Equal(len(fn.Calls()), 0)                                                                              // already past
	is.Equal(strings.Count(logs.String(), "clock: rotcheck-late at(2026-11-25T12:00:00) is already past"), 1) // said so once
}

func TestClockStartAndEndDate(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	logs := &lockedBuffer{}
	c := clockForTest(t, clockFast, fn, nil, logs)
	s := clockSchedule("rotcheck-window", "rate(1 hour)")
	s.StartDate = aws.Time(clockBase.Add(10 * time.Hour))
	s.EndDate = aws.Time(clockBase.Add(13*time.Hour + 30*time.Minute))
	is.NoErr(c.Set(s))
	clockEventually(t, "the end date", func() bool { return strings.Contains(logs.String(), "reached its end date") })
	var got []string
	for _, call := range fn.Calls() {
		got = append(got, clockPayload(t, call)["time"])
	}
	is.Equal(got, []string{"2026-11-26T00:00:00Z", "2026-11-26T01:00:00Z", "2026-11-26T02:00:00Z"}) // one period after StartDate, until EndDate
}

func TestClockDisabledNeverFires(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	logs := &lockedBuffer{}
	c := clockForTest(t, clockFast, fn, nil, logs)
	s := clockSchedule("rotcheck-off", "rate(1 hour)")
	s.State = schedulertypes.ScheduleStateDisabled
	is.NoErr(c.Set(s))
	time.Sleep(30 * time.Millisecond)                                    // 30 periods
	is.Equal(len(fn.Calls()), 0)                                         // disabled
	is.True(strings.Contains(logs.String(), "rotcheck-off is disabled")) // and said so
}

func TestClockDisablingStopsFiring(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	c := clockForTest(t, clockFast, fn, nil, nil)
	s := clockSchedule("rotcheck-toggle", "rate(1 hour)")
	is.NoErr(c.Set(s))
	clockEventually(t, "a fire", func() bool { return len(fn.Calls()) >= 1 })
	s.State = schedulertypes.ScheduleStateDisabled
	is.NoErr(c.Set(s))
	n := len(fn.Calls())
	time.Sleep(20 * time.Millisecond)
	is.Equal(len(fn.Calls()), n) // no fire after disabling
}

func TestClockSetReplacesSchedule(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	c := clockForTest(t, clockFast, fn, nil, nil)
	s := clockSchedule("rotcheck-edit", "rate(1 hour)")
	s.Target.Input = aws.String(`{"v":"old"}`)
	is.NoErr(c.Set(s))
	clockEventually(t, "an old fire", func() bool { return len(fn.Calls()) >= 1 })
	s.Target.Input = aws.String(`{"v":"new"}`)
	is.NoErr(c.Set(s))
	n := len(fn.Calls())
	clockEventually(t, "a new fire", func() bool { return len(fn.Calls()) > n })
	for _, call := range fn.Calls()[n:] {
		is.Equal(string(call.Payload), `{"v":"new"}`) // only the new definition fires after Set
	}
}

func TestClockRemoveStopsFiring(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	c := clockForTest(t, clockFast, fn, nil, nil)
	is.NoErr(c.Set(clockSchedule("rotcheck-gone", "rate(1 hour)")))
	clockEventually(t, "two fires", func() bool { return len(fn.Calls()) >= 2 })
	c.Remove("", "rotcheck-gone") // "" is the default group
	n := len(fn.Calls())
	time.Sleep(20 * time.Millisecond)
	is.Equal(len(fn.Calls()), n) // no fire after Remove
}

func TestClockCloseStopsFiring(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	c := clockForTest(t, clockFast, fn, nil, nil)
	is.NoErr(c.Set(clockSchedule("rotcheck-closed", "rate(1 hour)")))
	clockEventually(t, "two fires", func() bool { return len(fn.Calls()) >= 2 })
	c.Close()
	n := len(fn.Calls())
	time.Sleep(20 * time.Millisecond)
	is.Equal(len(fn.Calls()), n)                                            // no fire after Close
	is.True(c.Set(clockSchedule("rotcheck-closed", "rate(1 hour)")) != nil) // a closed clock arms nothing
}

// TestClockCloseLeavesNoGoroutine is not parallel, so no other test's
// goroutines come and go while it counts.
func TestClockCloseLeavesNoGoroutine(t *testing.T) {
	is := is.New(t)
	before := runtime.NumGoroutine()
	fn := &clockLambda{}
	c := NewClock(ClockOptions{Speed: clockFast, Lambda: fn, Now: clockNow(clockBase)})
	is.NoErr(c.Set(clockSchedule("rotcheck-a", "rate(1 hour)")))
	is.NoErr(c.Set(clockSchedule("rotcheck-b", "rate(2 hours)")))
	is.NoErr(c.Set(clockSchedule("rotcheck-c", "at(2027-11-25T13:00:00)"))) // a year away: still waiting at Close
	clockEventually(t, "fires", func() bool { return len(fn.Calls()) >= 3 })
	c.Close()
	clockEventually(t, "the clock's goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

func TestClockCloseCancelsInFlightFire(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	started := make(chan struct{}, 1)
	fn := &clockLambda{InvokeFn: func(ctx context.Context, _ *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done() // a target that hangs until the clock gives up on it
		return nil, ctx.Err()
	}}
	c := clockForTest(t, clockFast, fn, nil, nil)
	is.NoErr(c.Set(clockSchedule("rotcheck-hang", "rate(1 hour)")))
	<-started
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a fire was in flight")
	}
	is.Equal(len(fn.Calls()), 1) // a canceled attempt is not retried
}

func TestClockRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{InvokeFn: func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		return nil, clockAPIError{code: "TooManyRequestsException", message: "Rate exceeded"}
	}}
	queue := &clockSQS{}
	logs := &lockedBuffer{}
	// 36000x: at() ten simulated minutes away fires after ~17 real ms, and the
	// default 24 h event age is 2.4 real seconds, far beyond three attempts.
	c := clockForTest(t, 36000, fn, queue, logs)
	s := clockSchedule("rotcheck-failing", "at(2026-11-25T13:10:00)")
	s.Target.RetryPolicy = &schedulertypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(2), MaximumEventAgeInSeconds: aws.Int32(86400)}
	s.Target.DeadLetterConfig = &schedulertypes.DeadLetterConfig{Arn: aws.String(clockQueueARN)}
	is.NoErr(c.Set(s))
	clockEventually(t, "the dead letter", func() bool { _, sent := queue.Sent(); return len(sent) >= 1 })
	c.Close()

	calls := fn.Calls()
	is.Equal(len(calls), 3) // one attempt and two retries
	first := clockPayload(t, calls[0])
	for i, call := range calls {
		p := clockPayload(t, call)
		is.Equal(p["attempt"], []string{"1", "2", "3"}[i]) // attempt number increases
		is.Equal(p["id"], first["id"])                     // one execution ID across retries
		is.Equal(p["time"], "2026-11-25T13:10:00Z")        // scheduled time is stable across retries
	}

	lookups, sent := queue.Sent()
	is.Equal(len(lookups), 1)
	is.Equal(aws.ToString(lookups[0].QueueName), "rotcheck-dlq")              // queue name from the ARN
	is.Equal(aws.ToString(lookups[0].QueueOwnerAWSAccountId), "123456789012") // owner from the ARN
	is.Equal(len(sent), 1)
	msg := sent[0]
	is.Equal(aws.ToString(msg.QueueUrl), clockQueueURL)
	is.Equal(aws.ToString(msg.MessageBody), string(calls[2].Payload)) // the filled payload of the last attempt
	attr := func(name string) string { return aws.ToString(msg.MessageAttributes[name].StringValue) }
	is.Equal(attr("ERROR_CODE"), "TooManyRequestsException")
	is.True(strings.Contains(attr("ERROR_MESSAGE"), "Rate exceeded"))
	is.Equal(attr("EXECUTION_ID"), first["id"])
	is.Equal(attr("RETRY_ATTEMPTS"), "2")
	is.Equal(attr("EXHAUSTED_RETRY_CONDITION"), "MaximumRetryAttempts")
	is.True(strings.Contains(logs.String(), "clock: rotcheck-failing attempt 1 of execution "+first["id"]+" failed: TooManyRequestsException: Rate exceeded")) // failures logged
	is.True(strings.Contains(logs.String(), "sent execution "+first["id"]+" to dead-letter queue rotcheck-dlq"))                                               // and the dead letter
}

func TestClockRetrySucceeds(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		if len(fn.Calls()) < 3 {
			return nil, errors.New("connection refused")
		}
		return &lambda.InvokeOutput{StatusCode: 202}, nil
	}
	queue := &clockSQS{}
	logs := &lockedBuffer{}
	c := clockForTest(t, 36000, fn, queue, logs)
	s := clockSchedule("rotcheck-flaky", "at(2026-11-25T13:10:00)")
	s.Target.DeadLetterConfig = &schedulertypes.DeadLetterConfig{Arn: aws.String(clockQueueARN)}
	is.NoErr(c.Set(s))
	clockEventually(t, "the fire", func() bool { return strings.Contains(logs.String(), "fired") })
	c.Close()
	is.Equal(len(fn.Calls()), 3)                                                            // succeeded on the third attempt
	is.True(strings.Contains(logs.String(), "(scheduled 2026-11-25T13:10:00Z, attempt 3)")) // logged with its attempt
	_, sent := queue.Sent()
	is.Equal(len(sent), 0) // nothing dead-lettered
}

func TestClockEventAgeEndsRetries(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{InvokeFn: func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		return nil, errors.New("connection refused")
	}}
	queue := &clockSQS{}
	c := clockForTest(t, clockFast, fn, queue, nil)
	s := clockSchedule("rotcheck-stale", "at(2026-11-26T13:00:00)")
	// At 3.6 million times real speed a minute passes in 17 real microseconds,
	// so the event ages out long before 185 retries.
	s.Target.RetryPolicy = &schedulertypes.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(60)}
	s.Target.DeadLetterConfig = &schedulertypes.DeadLetterConfig{Arn: aws.String(clockQueueARN)}
	is.NoErr(c.Set(s))
	clockEventually(t, "the dead letter", func() bool { _, sent := queue.Sent(); return len(sent) >= 1 })
	c.Close()
	_, sent := queue.Sent()
	is.Equal(aws.ToString(sent[0].MessageAttributes["EXHAUSTED_RETRY_CONDITION"].StringValue), "MaximumEventAgeInSeconds") // age, not attempts, ended it
	is.Equal(aws.ToString(sent[0].MessageAttributes["ERROR_CODE"].StringValue), "InvocationFailed")                        // no AWS code to report
	is.True(len(fn.Calls()) < 186)                                                                                         // fewer than the default attempts
}

func TestClockSkipsNonLambdaTarget(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	fn := &clockLambda{}
	logs := &lockedBuffer{}
	c := clockForTest(t, clockFast, fn, nil, logs)
	s := clockSchedule("rotcheck-queue", "rate(1 hour)")
	s.Target.Arn = aws.String("arn:aws:sqs:us-east-1:123456789012:rotcheck-work")
	is.NoErr(c.Set(s)) // a valid schedule, just not one the local cloud can deliver
	time.Sleep(20 * time.Millisecond)
	is.Equal(len(fn.Calls()), 0)                                      // skipped
	is.True(strings.Contains(logs.String(), "not supported locally")) // and said so
}
