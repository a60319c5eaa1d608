package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedulertypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

// Every test that involves time runs in a synctest bubble: time there is
// fake and moves only when every goroutine of the bubble is blocked, so a
// test that waits an hour takes no real time, and "nothing fired" after
// synctest.Wait is proven rather than hoped.

const (
	functionARN = "arn:aws:lambda:us-east-1:123456789012:function:rotcheck-check"
	queueARN    = "arn:aws:sqs:us-east-1:123456789012:rotcheck-dlq"
	queueURL    = "http://127.0.0.1:4566/123456789012/rotcheck-dlq"
	testInput   = `{"time":"<aws.scheduler.scheduled-time>","id":"<aws.scheduler.execution-id>","attempt":"<aws.scheduler.attempt-number>","arn":"<aws.scheduler.schedule-arn>"}`
)

// base is where the cloud clock of most tests starts.
var base = time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)

// fakeLambda is a LambdaInvoker that records every call.
type fakeLambda struct {
	mu       sync.Mutex
	calls    []*lambda.InvokeInput
	InvokeFn func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error)
}

func (f *fakeLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, in)
	fn := f.InvokeFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, in)
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`{}`)}, nil
}

func (f *fakeLambda) Calls() []*lambda.InvokeInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*lambda.InvokeInput(nil), f.calls...)
}

// times is the scheduled time of each call, from its payload.
func (f *fakeLambda) times(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, c := range f.Calls() {
		out = append(out, payload(t, c)["time"])
	}
	return out
}

// fakeSQS is a MessageSender that knows one queue.
type fakeSQS struct {
	mu      sync.Mutex
	lookups []*sqs.GetQueueUrlInput
	sent    []*sqs.SendMessageInput
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, in)
	if aws.ToString(in.QueueName) != "rotcheck-dlq" {
		return nil, errors.New("AWS.SimpleQueueService.NonExistentQueue")
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(queueURL)}, nil
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m-1")}, nil
}

func (f *fakeSQS) Sent() ([]*sqs.GetQueueUrlInput, []*sqs.SendMessageInput) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sqs.GetQueueUrlInput(nil), f.lookups...), append([]*sqs.SendMessageInput(nil), f.sent...)
}

// apiError stands in for an SDK error that carries an AWS error code.
type apiError struct{ code, message string }

func (e apiError) Error() string     { return e.code + ": " + e.message }
func (e apiError) ErrorCode() string { return e.code }

// rig is a scheduler under test with its fakes.
type rig struct {
	s     *Scheduler
	fn    *fakeLambda
	queue *fakeSQS
	logs  *linewriter.Buffer
}

// newRig starts a scheduler whose clock reads base and runs at speed. It
// must be called inside a synctest bubble; Close runs at the end of the test.
func newRig(t *testing.T, speed float64) *rig {
	t.Helper()
	clock, err := NewClock(base, speed)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{fn: &fakeLambda{}, queue: &fakeSQS{}, logs: &linewriter.Buffer{}}
	r.s = New(Options{Clock: clock, Lambda: r.fn, SQS: r.queue, Logs: r.logs})
	t.Cleanup(r.s.Close)
	return r
}

func schedule(name, expr string) *scheduler.GetScheduleOutput {
	return &scheduler.GetScheduleOutput{
		Name:               aws.String(name),
		GroupName:          aws.String("default"),
		Arn:                aws.String("arn:aws:scheduler:us-east-1:123456789012:schedule/default/" + name),
		ScheduleExpression: aws.String(expr),
		State:              schedulertypes.ScheduleStateEnabled,
		FlexibleTimeWindow: &schedulertypes.FlexibleTimeWindow{Mode: schedulertypes.FlexibleTimeWindowModeOff},
		Target: &schedulertypes.Target{
			Arn:     aws.String(functionARN),
			RoleArn: aws.String("arn:aws:iam::123456789012:role/rotcheck-schedule"),
			Input:   aws.String(testInput),
		},
	}
}

func payload(t *testing.T, in *lambda.InvokeInput) map[string]string {
	t.Helper()
	var p map[string]string
	if err := json.Unmarshal(in.Payload, &p); err != nil {
		t.Fatalf("payload %q: %v", in.Payload, err)
	}
	return p
}

// wait lets d of real (fake) time pass and every goroutine settle.
func wait(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestCheckSpeed(t *testing.T) {
	t.Parallel()
	for _, ok := range []float64{1, 3600, MaxSpeed} {
		if err := CheckSpeed(ok); err != nil {
			t.Errorf("CheckSpeed(%g): %v", ok, err)
		}
	}
	inf := 1e400 / 1e300
	for _, bad := range []float64{-1, 0, 0.5, MaxSpeed + 1, 1e7, inf, -inf, inf - inf} {
		err := CheckSpeed(bad)
		if err == nil || !strings.Contains(err.Error(), "from 1 (real time) to 100000") {
			t.Errorf("CheckSpeed(%g) = %v, want the range in the error", bad, err)
		}
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

func TestClockRunsAtItsSpeedAndOnlyForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		c, err := NewClock(base, 60)
		is.NoErr(err)
		is.Equal(c.Now(), base)
		time.Sleep(time.Second)
		is.Equal(c.Now(), base.Add(time.Minute)) // 60x: a real second is a cloud minute
		err = c.set(base)
		is.True(errors.Is(err, ErrBackwards))                                // never back
		is.True(strings.Contains(err.Error(), "1m0s earlier"))               // says by how much
		is.NoErr(c.set(base.Add(48 * time.Hour)))                            // forward by two days
		is.Equal(c.Now(), base.Add(48*time.Hour))                            // at once
		is.Equal(c.realUntil(base.Add(48*time.Hour+time.Hour)), time.Minute) // an hour ahead is a real minute away
	})
}

func TestRateFiresPeriodically(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-hourly", "rate(1 hour)")
		is.NoErr(r.s.Set(s))
		wait(4*time.Hour + 30*time.Minute)

		calls := r.fn.Calls()
		is.Equal(len(calls), 4) // one fire per hour, first one period after arming
		ids := map[string]bool{}
		for i, call := range calls {
			is.Equal(aws.ToString(call.FunctionName), functionARN) // the target ARN
			p := payload(t, call)
			is.Equal(p["attempt"], "1")             // every fire succeeded first time
			is.Equal(p["arn"], aws.ToString(s.Arn)) // the schedule's ARN
			is.True(p["id"] != "" && !ids[p["id"]]) // a new execution ID per fire
			ids[p["id"]] = true
			is.Equal(p["time"], base.Add(time.Duration(i+1)*time.Hour).Format(time.RFC3339)) // its own scheduled time, an hour apart
		}
		is.True(strings.Contains(r.logs.String(), "scheduler: rotcheck-hourly fired "+functionARN+" (scheduled 2026-11-25T14:00:00Z, attempt 1)")) // logged
	})
}

// At 3,600x, rate(1 minute) is due every 17 ms while a fire takes 50 ms:
// the fires fall behind the clock but none is dropped, and they stay in
// order with their own scheduled times.
func TestFastClockAppliesBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 3600)
		r.fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			time.Sleep(50 * time.Millisecond)
			return &lambda.InvokeOutput{Payload: []byte(`{}`)}, nil
		}
		is.NoErr(r.s.Set(schedule("rotcheck-minutely", "rate(1 minute)")))
		wait(time.Second) // an hour of cloud time: 60 occurrences due
		got := r.fn.times(t)
		is.Equal(len(got), 20) // only as many as a second of 50 ms fires allows...
		for i, at := range got {
			is.Equal(at, base.Add(time.Duration(i+1)*time.Minute).Format(time.RFC3339)) // ...each one in order, none skipped
		}
		wait(4 * time.Second)
		is.Equal(len(r.fn.Calls()), 100)                        // the backlog keeps draining
		is.True(strings.Contains(r.logs.String(), "fires run")) // and it says it runs behind
	})
}

func TestAtFiresOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-once", "at(2026-11-26T13:00:00)")
		s.Target.Input = nil
		is.NoErr(r.s.Set(s))
		wait(30 * time.Hour)
		calls := r.fn.Calls()
		is.Equal(len(calls), 1)                  // fired exactly once
		is.Equal(string(calls[0].Payload), "{}") // empty Input sends an empty object
		is.Equal(len(r.s.Schedules()), 0)        // and is no longer armed
	})
}

func TestAtInTimezone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-ny", "at(2026-11-26T09:00:00)")
		s.ScheduleExpressionTimezone = aws.String("America/New_York")
		is.NoErr(r.s.Set(s))
		wait(26 * time.Hour)
		is.Equal(r.fn.times(t), []string{"2026-11-26T14:00:00Z"}) // 09:00 EST is 14:00 UTC
	})
}

func TestAtInThePastDoesNotFire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		is.NoErr(r.s.Set(schedule("rotcheck-late", "at(2026-11-25T12:00:00)")))
		wait(48 * time.Hour)
		is.Equal(len(r.fn.Calls()), 0)                                                                                   // already past
		is.Equal(strings.Count(r.logs.String(), "scheduler: rotcheck-late at(2026-11-25T12:00:00) has no fire time"), 1) // said so once
	})
}

func TestStartAndEndDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-window", "rate(1 hour)")
		s.StartDate = aws.Time(base.Add(10 * time.Hour))
		s.EndDate = aws.Time(base.Add(13*time.Hour + 30*time.Minute))
		is.NoErr(r.s.Set(s))
		wait(48 * time.Hour)
		is.Equal(r.fn.times(t), []string{"2026-11-26T00:00:00Z", "2026-11-26T01:00:00Z", "2026-11-26T02:00:00Z"}) // one period after StartDate, until EndDate
		is.True(strings.Contains(r.logs.String(), "rotcheck-window reached its end date 2026-11-26T02:30:00Z"))
	})
}

// A weekday 09:00 Paris cron fires at the right UTC times across a week,
// including the change from summer to winter time.
func TestCronFiresInItsTimeZone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		clock, err := NewClock(time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC), 1) // Friday noon; Paris leaves summer time on Sunday 25th
		is.NoErr(err)
		fn := &fakeLambda{}
		s := New(Options{Clock: clock, Lambda: fn})
		defer s.Close()
		sched := schedule("rotcheck-weekdays", "cron(0 9 ? * MON-FRI *)")
		sched.ScheduleExpressionTimezone = aws.String("Europe/Paris")
		is.NoErr(s.Set(sched))
		wait(7 * 24 * time.Hour)
		is.Equal(fn.times(t), []string{
			"2026-10-26T08:00:00Z", "2026-10-27T08:00:00Z", "2026-10-28T08:00:00Z", // 09:00 CET is 08:00 UTC
			"2026-10-29T08:00:00Z", "2026-10-30T08:00:00Z",
		}) // Monday to Friday, none on the weekend
	})
}

// Updating a schedule to an expression the scheduler refuses disarms the
// old definition: the log must not say it will not fire while it does.
func TestSetRefusedUpdateDisarmsTheOldSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		is.NoErr(r.s.Set(schedule("rotcheck-edit", "rate(1 hour)")))
		wait(time.Hour)
		is.Equal(len(r.fn.Calls()), 1)
		err := r.s.Set(schedule("rotcheck-edit", "rate(banana)"))
		is.True(err != nil) // refused
		wait(10 * time.Hour)
		is.Equal(len(r.fn.Calls()), 1)                                                     // and the old rate no longer fires
		is.True(strings.Contains(r.logs.String(), "rotcheck-edit will not fire: invalid")) // as the log says
	})
}

func TestSetRefusesBadSchedules(t *testing.T) {
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
			edit: func(s *scheduler.GetScheduleOutput) { s.ScheduleExpressionTimezone = aws.String("Mars/Olympus_Mons") },
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
			synctest.Test(t, func(t *testing.T) {
				is := is.New(t)
				r := newRig(t, 1)
				s := schedule("rotcheck-bad", "rate(1 hour)")
				tt.edit(s)
				err := r.s.Set(s)
				is.True(err != nil)                             // refused
				is.True(strings.Contains(err.Error(), tt.want)) // the error names the culprit
				wait(24 * time.Hour)
				is.Equal(len(r.fn.Calls()), 0) // nothing armed
			})
		})
	}
}

func TestDisabledNeverFires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-off", "rate(1 hour)")
		s.State = schedulertypes.ScheduleStateDisabled
		is.NoErr(r.s.Set(s))
		wait(30 * time.Hour)
		is.Equal(len(r.fn.Calls()), 0)                                         // disabled
		is.True(strings.Contains(r.logs.String(), "rotcheck-off is disabled")) // and said so
	})
}

func TestDisablingStopsFiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-toggle", "rate(1 hour)")
		is.NoErr(r.s.Set(s))
		wait(time.Hour)
		is.Equal(len(r.fn.Calls()), 1)
		s.State = schedulertypes.ScheduleStateDisabled
		is.NoErr(r.s.Set(s))
		wait(20 * time.Hour)
		is.Equal(len(r.fn.Calls()), 1) // no fire after disabling
	})
}

func TestSetReplacesSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-edit", "rate(1 hour)")
		s.Target.Input = aws.String(`{"v":"old"}`)
		is.NoErr(r.s.Set(s))
		wait(time.Hour)
		s.Target.Input = aws.String(`{"v":"new"}`)
		is.NoErr(r.s.Set(s))
		wait(3 * time.Hour)
		var got []string
		for _, c := range r.fn.Calls() {
			got = append(got, string(c.Payload))
		}
		is.Equal(got, []string{`{"v":"old"}`, `{"v":"new"}`, `{"v":"new"}`, `{"v":"new"}`}) // only the new definition fires after Set
	})
}

func TestRemoveStopsFiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		is.NoErr(r.s.Set(schedule("rotcheck-gone", "rate(1 hour)")))
		wait(2 * time.Hour)
		is.Equal(len(r.fn.Calls()), 2)
		r.s.Remove("", "rotcheck-gone") // "" is the default group
		wait(20 * time.Hour)
		is.Equal(len(r.fn.Calls()), 2) // no fire after Remove
	})
}

func TestCloseStopsFiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		is.NoErr(r.s.Set(schedule("rotcheck-a", "rate(1 hour)")))
		is.NoErr(r.s.Set(schedule("rotcheck-b", "at(2027-11-25T13:00:00)"))) // a year away: still waiting at Close
		wait(2 * time.Hour)
		r.s.Close()
		wait(20 * time.Hour)
		is.Equal(len(r.fn.Calls()), 2)                                       // no fire after Close
		is.True(r.s.Set(schedule("rotcheck-closed", "rate(1 hour)")) != nil) // a closed scheduler arms nothing
		// synctest.Test fails if a goroutine of the bubble outlives it.
	})
}

func TestCloseCancelsInFlightFire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		r.fn.InvokeFn = func(ctx context.Context, _ *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			<-ctx.Done() // a target that hangs until the scheduler gives up on it
			return nil, ctx.Err()
		}
		is.NoErr(r.s.Set(schedule("rotcheck-hang", "rate(1 hour)")))
		wait(time.Hour)
		r.s.Close()                    // returns although a fire was in flight
		is.Equal(len(r.fn.Calls()), 1) // a canceled attempt is not retried
	})
}

func TestRetriesThenDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		r.fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return nil, apiError{code: "TooManyRequestsException", message: "Rate exceeded"}
		}
		s := schedule("rotcheck-failing", "at(2026-11-25T13:10:00)")
		s.Target.RetryPolicy = &schedulertypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(2), MaximumEventAgeInSeconds: aws.Int32(86400)}
		s.Target.DeadLetterConfig = &schedulertypes.DeadLetterConfig{Arn: aws.String(queueARN)}
		is.NoErr(r.s.Set(s))
		wait(time.Hour)

		calls := r.fn.Calls()
		is.Equal(len(calls), 3) // one attempt and two retries
		first := payload(t, calls[0])
		for i, call := range calls {
			p := payload(t, call)
			is.Equal(p["attempt"], []string{"1", "2", "3"}[i]) // attempt number increases
			is.Equal(p["id"], first["id"])                     // one execution ID across retries
			is.Equal(p["time"], "2026-11-25T13:10:00Z")        // scheduled time is stable across retries
		}
		lookups, sent := r.queue.Sent()
		is.Equal(len(lookups), 1)
		is.Equal(aws.ToString(lookups[0].QueueName), "rotcheck-dlq")              // queue name from the ARN
		is.Equal(aws.ToString(lookups[0].QueueOwnerAWSAccountId), "123456789012") // owner from the ARN
		is.Equal(len(sent), 1)
		msg := sent[0]
		is.Equal(aws.ToString(msg.QueueUrl), queueURL)
		is.Equal(aws.ToString(msg.MessageBody), string(calls[2].Payload)) // the filled payload of the last attempt
		attr := func(name string) string { return aws.ToString(msg.MessageAttributes[name].StringValue) }
		is.Equal(attr("ERROR_CODE"), "TooManyRequestsException")
		is.True(strings.Contains(attr("ERROR_MESSAGE"), "Rate exceeded"))
		is.Equal(attr("EXECUTION_ID"), first["id"])
		is.Equal(attr("RETRY_ATTEMPTS"), "2")
		is.Equal(attr("EXHAUSTED_RETRY_CONDITION"), "MaximumRetryAttempts")
		is.True(strings.Contains(r.logs.String(), "scheduler: rotcheck-failing attempt 1 of execution "+first["id"]+" failed: TooManyRequestsException: Rate exceeded")) // failures logged
		is.True(strings.Contains(r.logs.String(), "sent execution "+first["id"]+" to dead-letter queue rotcheck-dlq"))                                                   // and the dead letter
	})
}

func TestRetrySucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		r.fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			if len(r.fn.Calls()) < 3 {
				return nil, errors.New("connection refused")
			}
			return &lambda.InvokeOutput{Payload: []byte(`{}`)}, nil
		}
		s := schedule("rotcheck-flaky", "at(2026-11-25T13:10:00)")
		s.Target.DeadLetterConfig = &schedulertypes.DeadLetterConfig{Arn: aws.String(queueARN)}
		is.NoErr(r.s.Set(s))
		wait(time.Hour)
		is.Equal(len(r.fn.Calls()), 3)                                                            // succeeded on the third attempt
		is.True(strings.Contains(r.logs.String(), "(scheduled 2026-11-25T13:10:00Z, attempt 3)")) // logged with its attempt
		_, sent := r.queue.Sent()
		is.Equal(len(sent), 0) // nothing dead-lettered
	})
}

func TestEventAgeEndsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		r.fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			return nil, errors.New("connection refused")
		}
		s := schedule("rotcheck-stale", "at(2026-11-25T13:10:00)")
		s.Target.RetryPolicy = &schedulertypes.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(60)}
		s.Target.DeadLetterConfig = &schedulertypes.DeadLetterConfig{Arn: aws.String(queueARN)}
		is.NoErr(r.s.Set(s))
		wait(time.Hour)
		_, sent := r.queue.Sent()
		is.Equal(len(sent), 1)
		is.Equal(aws.ToString(sent[0].MessageAttributes["EXHAUSTED_RETRY_CONDITION"].StringValue), "MaximumEventAgeInSeconds") // age, not attempts, ended it
		is.Equal(aws.ToString(sent[0].MessageAttributes["ERROR_CODE"].StringValue), "InvocationFailed")                        // no AWS code to report
		is.Equal(len(r.fn.Calls()), 6)                                                                                         // waits of 1+2+4+8+16 s fit in 60 s, the next 32 s does not
	})
}

func TestSkipsNonLambdaTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		s := schedule("rotcheck-queue", "rate(1 hour)")
		s.Target.Arn = aws.String("arn:aws:sqs:us-east-1:123456789012:rotcheck-work")
		is.NoErr(r.s.Set(s)) // a valid schedule, just not one the local cloud can deliver
		wait(20 * time.Hour)
		is.Equal(len(r.fn.Calls()), 0)                                      // skipped
		is.True(strings.Contains(r.logs.String(), "not supported locally")) // and said so
	})
}

// Advancing the clock fires every occurrence in the span, in order, each
// with its own scheduled time, and the clock reads that time while it runs.
func TestAdvanceFiresEveryOccurrenceInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		var clockDuringFire []string
		r.fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			clockDuringFire = append(clockDuringFire, formatTime(r.s.Clock().Now()))
			return &lambda.InvokeOutput{Payload: []byte(`{}`)}, nil
		}
		is.NoErr(r.s.Set(schedule("rotcheck-hourly", "rate(1 hour)")))
		is.NoErr(r.s.Set(schedule("rotcheck-daily", "rate(1 day)")))
		rep, err := r.s.Advance(context.Background(), At(base.Add(31*24*time.Hour)))
		is.NoErr(err)
		is.Equal(rep.Fired, 744+31) // every hourly and every daily occurrence
		is.Equal(rep.Failed, 0)
		is.Equal(r.s.Clock().Now(), base.Add(31*24*time.Hour)) // the clock is where it was asked to go

		got := r.fn.times(t)
		is.Equal(got, clockDuringFire) // each fire ran with the clock at its own scheduled time
		for i := 1; i < len(got); i++ {
			is.True(got[i-1] <= got[i]) // in time order across schedules
		}
		is.Equal(got[0], "2026-11-25T14:00:00Z")
		is.Equal(got[len(got)-1], "2026-12-26T13:00:00Z") // the last one lands exactly on the target

		wait(30 * time.Minute)
		is.Equal(len(r.fn.Calls()), 744+31) // the loop does not fire them again
		wait(30 * time.Minute)
		is.Equal(len(r.fn.Calls()), 744+31+1) // and goes on from the new time
	})
}

func TestAdvanceCountsFailedRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		r.fn.InvokeFn = func(_ context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			if strings.Contains(string(in.Payload), "T15:00:00Z") {
				return &lambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(`{"errorMessage":"boom"}`)}, nil
			}
			return &lambda.InvokeOutput{Payload: []byte(`{}`)}, nil
		}
		is.NoErr(r.s.Set(schedule("rotcheck-hourly", "rate(1 hour)")))
		rep, err := r.s.Advance(context.Background(), At(base.Add(3*time.Hour)))
		is.NoErr(err)
		is.Equal(rep.Fired, 3)
		is.Equal(rep.Failed, 1)                                                                    // the 15:00 run failed
		is.True(strings.Contains(r.logs.String(), `the function failed: {"errorMessage":"boom"}`)) // and the log says why
	})
}

// A move waits for the one in progress, and gives up without moving the
// clock when its caller stops waiting; then a By target counts from where
// the earlier move ended.
func TestMovesWaitTheirTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		started, release := make(chan struct{}), make(chan struct{})
		r.fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			if len(r.fn.Calls()) == 1 {
				close(started)
				<-release
			}
			return &lambda.InvokeOutput{Payload: []byte(`{}`)}, nil
		}
		is.NoErr(r.s.Set(schedule("rotcheck-hourly", "rate(1 hour)")))
		first := make(chan error)
		go func() {
			_, err := r.s.Advance(context.Background(), By(3*time.Hour))
			first <- err
		}()
		<-started

		ctx, cancel := context.WithCancel(context.Background())
		gaveUp := make(chan error)
		go func() {
			_, err := r.s.Jump(ctx, By(24*time.Hour))
			gaveUp <- err
		}()
		synctest.Wait() // the jump is waiting for the advance
		cancel()
		err := <-gaveUp
		is.True(errors.Is(err, context.Canceled))                               // it gave up
		is.True(strings.Contains(err.Error(), "wait for the move in progress")) // and says what it was doing

		close(release)
		is.NoErr(<-first)
		is.Equal(r.s.Clock().Now(), base.Add(3*time.Hour)) // only the advance moved the clock
		rep, err := r.s.Jump(context.Background(), By(time.Hour))
		is.NoErr(err)
		is.Equal(rep.From, base.Add(3*time.Hour)) // a By target counts from the end of the last move
		is.Equal(rep.To, base.Add(4*time.Hour))
	})
}

func TestAdvanceRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		is.NoErr(r.s.Set(schedule("rotcheck-minutely", "rate(1 minute)")))

		_, err := r.s.Advance(context.Background(), At(base.Add(-time.Hour)))
		is.True(errors.Is(err, ErrBackwards))                    // the clock never goes back
		is.True(strings.Contains(err.Error(), "1h0m0s earlier")) // and says by how much

		_, err = r.s.Advance(context.Background(), At(base.Add(35*24*time.Hour))) // 50,400 minutes
		is.True(errors.Is(err, ErrTooManyFires))
		is.True(strings.Contains(err.Error(), "more than 50000"))
		is.Equal(len(r.fn.Calls()), 0)                                               // refused before firing anything
		is.Equal(r.s.Clock().Now(), base)                                            // or moving the clock
		rep, err := r.s.Advance(context.Background(), At(base.Add(34*24*time.Hour))) // 48,960 minutes
		is.NoErr(err)
		is.Equal(rep.Fired, 48960) // within the bound
	})
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"31d": 31 * 24 * time.Hour, "744h": 744 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "0.5d": 12 * time.Hour,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0d", "-1h", "banana", "31days", "d", "1w", "NaNd"} {
		if _, err := ParseDuration(bad); err == nil || !strings.Contains(err.Error(), "want something like 31d") && !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("ParseDuration(%q) = %v, want it refused as malformed", bad, err)
		}
	}
	if got, err := ParseDuration("36500d"); err != nil || got != MaxDuration {
		t.Errorf("ParseDuration(36500d) = %v, %v; want the limit itself accepted", got, err)
	}
	// Too large is not malformed: the error says so, and names the limit.
	for _, big := range []string{"10000000d", "36501d", "36500d1h", "1e400d", "900000h", "3000000h", "99999999999999999999s"} {
		_, err := ParseDuration(big)
		if err == nil || !strings.Contains(err.Error(), "is too large: the limit is 36500d (100 years)") {
			t.Errorf("ParseDuration(%q) = %v, want it refused as too large", big, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	got, err := ParseTime("2027-02-28")
	is.NoErr(err)
	is.Equal(got, time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC)) // a date is midnight UTC
	got, err = ParseTime("2027-02-28T09:30:00+01:00")
	is.NoErr(err)
	is.True(got.Equal(time.Date(2027, 2, 28, 8, 30, 0, 0, time.UTC)))
	_, err = ParseTime("next tuesday")
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "RFC 3339")) // says what it wants
}

func TestJumpSkipsTheFiresInBetween(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		r := newRig(t, 1)
		is.NoErr(r.s.Set(schedule("rotcheck-hourly", "rate(1 hour)")))
		_, err := r.s.Jump(context.Background(), At(base.Add(31*24*time.Hour)))
		is.NoErr(err)
		synctest.Wait()
		is.Equal(len(r.fn.Calls()), 0)                         // none of the 744 fires in between
		is.Equal(r.s.Clock().Now(), base.Add(31*24*time.Hour)) // the clock moved
		wait(time.Hour)
		is.Equal(r.fn.times(t), []string{"2026-12-26T14:00:00Z"}) // and the schedule goes on from there
		_, err = r.s.Jump(context.Background(), At(base))
		is.True(errors.Is(err, ErrBackwards)) // never back
	})
}

// fakePoller is a Poller with a list of due times; each Poll takes the
// earliest one, records the cloud time it ran at, and may add work.
type fakePoller struct {
	mu     sync.Mutex
	due    []time.Time
	polled []time.Time
	onPoll func(now time.Time)
}

func (f *fakePoller) Due() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.due) == 0 {
		return time.Time{}, false
	}
	return slices.MinFunc(f.due, time.Time.Compare), true
}

func (f *fakePoller) Poll(_ context.Context, now time.Time) {
	f.mu.Lock()
	f.polled = append(f.polled, now)
	f.due = slices.DeleteFunc(f.due, func(t time.Time) bool { return !t.After(now) })
	on := f.onPoll
	f.mu.Unlock()
	if on != nil {
		on(now)
	}
}

func (f *fakePoller) add(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.due = append(f.due, t)
}

func (f *fakePoller) Polled() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.polled)
}

// newPollerRig is newRig with a poller.
func newPollerRig(t *testing.T, speed float64, p *fakePoller) *rig {
	t.Helper()
	clock, err := NewClock(base, speed)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{fn: &fakeLambda{}, queue: &fakeSQS{}, logs: &linewriter.Buffer{}}
	r.s = New(Options{Clock: clock, Lambda: r.fn, SQS: r.queue, Logs: r.logs, Poller: p})
	t.Cleanup(r.s.Close)
	return r
}

// An advance runs the poller at each time it falls due, in time order with
// the fires, with the clock reading that time, including work a poll or a
// fire adds on the way.
func TestAdvancePollsInTimeOrderWithFires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		p := &fakePoller{due: []time.Time{base.Add(30 * time.Minute), base.Add(90 * time.Minute)}}
		var r *rig
		p.onPoll = func(now time.Time) {
			is.Equal(r.s.Clock().Now(), now) // the clock reads the poll's time
			if now.Equal(base.Add(30 * time.Minute)) {
				p.add(now.Add(5 * time.Minute)) // as a message coming back after its visibility timeout
			}
		}
		r = newPollerRig(t, 1, p)
		r.fn.InvokeFn = func(context.Context, *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			p.add(r.s.Clock().Now()) // the run sends a message: due at once
			return &lambda.InvokeOutput{StatusCode: 200}, nil
		}
		is.NoErr(r.s.Set(schedule("rotcheck-hourly", "rate(1 hour)")))
		_, err := r.s.Advance(context.Background(), By(2*time.Hour))
		is.NoErr(err)
		is.Equal(p.Polled(), []time.Time{
			base.Add(30 * time.Minute), base.Add(35 * time.Minute), // due, and the work it added
			base.Add(time.Hour),        // right after the fire that sent a message
			base.Add(90 * time.Minute), // due
			base.Add(2 * time.Hour),    // after the second fire
		})
		is.Equal(len(r.fn.Calls()), 2) // both fires ran
	})
}

// The loop polls as the clock reaches the poller's due time, and Wake makes
// it look again when new work arrives.
func TestLoopPollsWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		p := &fakePoller{due: []time.Time{base.Add(time.Minute)}}
		r := newPollerRig(t, 60, p) // a real second is a cloud minute
		wait(500 * time.Millisecond)
		is.Equal(len(p.Polled()), 0) // not due yet
		wait(500 * time.Millisecond)
		is.Equal(p.Polled(), []time.Time{base.Add(time.Minute)}) // at its time, not before

		p.add(r.s.Clock().Now())
		r.s.Wake()
		synctest.Wait()
		is.Equal(len(p.Polled()), 2) // new work is polled at once after Wake
	})
}
