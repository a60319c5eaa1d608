package schedule

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	schedulertypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
)

// fire delivers one execution, retrying a failed Invoke call as the
// target's RetryPolicy allows and then handing it to the dead-letter
// queue. It reports whether the function ran and succeeded. Retries wait
// (scaled by the clock speed) in the loop, and not at all in an advance.
func (s *Scheduler) fire(ctx context.Context, e *entry, scheduled time.Time, advance bool) bool {
	maxRetries, maxAge := retryLimits(e.retry)
	attrs := ContextAttributes{ScheduledTime: scheduled, ExecutionID: uuid.NewString(), ScheduleARN: e.arn}
	input := e.input
	if input == "" {
		input = "{}"
	}
	var waited time.Duration
	for attrs.AttemptNumber = 1; ; attrs.AttemptNumber++ {
		payload := FillInput(input, attrs)
		out, err := s.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(e.targetARN), Payload: []byte(payload)})
		if err == nil && out.FunctionError != nil {
			s.logf("%s fired %s (scheduled %s, attempt %d): the function failed: %s",
				e.label, e.targetARN, formatTime(scheduled), attrs.AttemptNumber, truncate(string(out.Payload), 300))
			return false
		}
		if err == nil {
			s.logf("%s fired %s (scheduled %s, attempt %d)", e.label, e.targetARN, formatTime(scheduled), attrs.AttemptNumber)
			return true
		}
		if ctx.Err() != nil {
			return false // disarmed or closed: the failure is ours, not the target's
		}
		retries := attrs.AttemptNumber - 1
		backoff := retryBackoff(attrs.AttemptNumber)
		condition := ""
		switch {
		case retries >= maxRetries:
			condition = "MaximumRetryAttempts"
		case waited+backoff > maxAge:
			condition = "MaximumEventAgeInSeconds"
		}
		if condition == "" {
			s.logf("%s attempt %d of execution %s failed: %v; retrying", e.label, attrs.AttemptNumber, attrs.ExecutionID, err)
			if !advance && !sleep(ctx, min(scale(backoff, 1/s.clock.Speed()), maxRetryWait)) {
				return false
			}
			waited += backoff
			continue
		}
		s.logf("%s attempt %d of execution %s failed: %v; giving up (%s)", e.label, attrs.AttemptNumber, attrs.ExecutionID, err, condition)
		s.deadLetter(ctx, e, payload, attrs, retries, condition, err)
		return false
	}
}

// deadLetter sends an execution that exhausted its retries to the target's
// dead-letter queue with the message attributes EventBridge Scheduler sets.
func (s *Scheduler) deadLetter(ctx context.Context, e *entry, payload string, attrs ContextAttributes, retries int, condition string, cause error) {
	if e.dlqARN == "" {
		s.logf("%s dropped execution %s after %d retries: no dead-letter queue", e.label, attrs.ExecutionID, retries)
		return
	}
	if s.sqs == nil {
		s.logf("%s dropped execution %s after %d retries: the scheduler has no SQS client for %s", e.label, attrs.ExecutionID, retries, e.dlqARN)
		return
	}
	queue, account, _ := parseQueueARN(e.dlqARN)
	out, err := s.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue), QueueOwnerAWSAccountId: aws.String(account)})
	if err == nil {
		str := func(v string) sqstypes.MessageAttributeValue {
			return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
		_, err = s.sqs.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:    out.QueueUrl,
			MessageBody: aws.String(payload),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				"ERROR_CODE":                str(errorCode(cause)),
				"ERROR_MESSAGE":             str(truncate(cause.Error(), 1024)),
				"EXECUTION_ID":              str(attrs.ExecutionID),
				"RETRY_ATTEMPTS":            str(strconv.Itoa(retries)),
				"EXHAUSTED_RETRY_CONDITION": str(condition),
				"SCHEDULE_ARN":              str(e.arn),
				"TARGET_ARN":                str(e.targetARN),
				"SCHEDULED_TIME":            str(formatTime(attrs.ScheduledTime)),
			},
		})
	}
	if err != nil {
		if ctx.Err() == nil {
			s.logf("%s could not dead-letter execution %s to %s: %v", e.label, attrs.ExecutionID, queue, err)
		}
		return
	}
	s.logf("%s sent execution %s to dead-letter queue %s after %d retries", e.label, attrs.ExecutionID, queue, retries)
}

func (s *Scheduler) logf(format string, args ...any) {
	s.logs.Printf("scheduler: "+format+"\n", args...)
}

// sleep waits for d or until ctx ends; false means ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
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

// lock is a mutex made of a one-slot channel. A move waiting for another
// can give up when its caller goes away, and, in a testing/synctest
// bubble, a goroutine waiting on it is durably blocked (one waiting on a
// sync.Mutex is not), so tests can see a move wait for another.
type lock chan struct{}

func newLock() lock { return make(lock, 1) }

// hold waits for the lock.
func (l lock) hold() { l <- struct{}{} }

// acquire waits for the lock or for ctx to end.
func (l lock) acquire(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l lock) release() { <-l }

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
		"<aws.scheduler.scheduled-time>", formatTime(a.ScheduledTime),
		"<aws.scheduler.execution-id>", a.ExecutionID,
		"<aws.scheduler.attempt-number>", strconv.Itoa(a.AttemptNumber),
		"<aws.scheduler.schedule-arn>", a.ScheduleARN,
	).Replace(input)
}

func retryLimits(p *schedulertypes.RetryPolicy) (retries int, age time.Duration) {
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

// retryBackoff is the wait after a failed attempt: exponential from one
// second, capped, so a long outage is retried steadily.
func retryBackoff(attempt int) time.Duration {
	if attempt > 20 {
		return maxBackoff
	}
	return min(time.Second<<(attempt-1), maxBackoff)
}

func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func scheduleKey(group, name string) string {
	if group == "" {
		group = "default"
	}
	return group + "/" + name
}

func scheduleLabel(group, name string) string {
	if group == "" || group == "default" {
		return name
	}
	return group + "/" + name
}

// isLambdaARN reports whether arn names a Lambda function
// (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]).
func isLambdaARN(arn string) bool {
	parts := strings.SplitN(arn, ":", 7)
	return len(parts) == 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" && parts[6] != ""
}

// parseQueueARN splits arn:PARTITION:sqs:REGION:ACCOUNT:QUEUE.
func parseQueueARN(arn string) (queue, account string, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[4] == "" || parts[5] == "" {
		return "", "", fmt.Errorf("dead-letter queue %q: want arn:aws:sqs:REGION:ACCOUNT:QUEUE", arn)
	}
	return parts[5], parts[4], nil
}

// scheduleARN builds a schedule ARN in the target's partition, region and
// account, for responses that lack one.
func scheduleARN(targetARN, group, name string) string {
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
func errorCode(err error) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		return coded.ErrorCode()
	}
	return "InvocationFailed"
}

// truncate shortens s to at most n bytes without splitting a character,
// so a long error cannot bloat a log line or a dead-letter message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
