package localcloud

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

func TestEventInvokeConfigAPI(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startCloud(t, nil)
	l := clients(c).Lambda
	_, err := l.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("no-such-fn")})
	var notFound *ltypes.ResourceNotFoundException
	is.True(errors.As(err, &notFound)) // a function that does not exist, as Lambda says it

	createFunction(t, c, "eic-api", map[string]string{"TABLE_NAME": "t"})
	_, err = l.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("eic-api")})
	is.True(errors.As(err, &notFound)) // none yet
	_, err = l.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("eic-api"), MaximumRetryAttempts: aws.Int32(3)})
	var invalid *ltypes.InvalidParameterValueException
	is.True(errors.As(err, &invalid)) // Lambda's limit is 2
	put, err := l.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("eic-api"), MaximumRetryAttempts: aws.Int32(1),
		DestinationConfig: &ltypes.DestinationConfig{OnFailure: &ltypes.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:q")}},
	})
	is.NoErr(err)
	is.True(strings.HasSuffix(aws.ToString(put.FunctionArn), ":function:eic-api:$LATEST"))
	got, err := l.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("eic-api")})
	is.NoErr(err)
	is.Equal(aws.ToInt32(got.MaximumRetryAttempts), int32(1))
	is.Equal(aws.ToString(got.DestinationConfig.OnFailure.Destination), "arn:aws:sqs:us-east-1:000000000000:q")
	_, err = l.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String("eic-api")})
	is.NoErr(err)
	_, err = l.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("eic-api")})
	is.True(errors.As(err, &notFound)) // gone
}

// A scheduled run that fails is retried as Lambda retries an asynchronous
// invocation, then lands in its OnFailure queue with Lambda's invocation
// record, and the advance counts it as failed.
func TestFailedRunReachesTheDeadLetterQueue(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	logs := &linewriter.Buffer{}
	c := startCloud(t, logs)
	cl := clients(c)
	_, err := cl.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("failing-db"), SecretString: aws.String("x"),
		Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}}})
	is.NoErr(err)
	fnARN := createFunction(t, c, "failing-fn", map[string]string{"TABLE_NAME": "no-such-table"}) // every run fails to write
	queue, err := cl.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("failing-dlq")})
	is.NoErr(err)
	t.Cleanup(func() {
		_, _ = cl.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: queue.QueueUrl})
	})
	_, err = cl.Lambda.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("failing-fn"), MaximumRetryAttempts: aws.Int32(1),
		DestinationConfig: &ltypes.DestinationConfig{OnFailure: &ltypes.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:failing-dlq")}},
	})
	is.NoErr(err)
	_, err = cl.Scheduler.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name: aws.String("failing-hourly"), ScheduleExpression: aws.String("rate(1 hour)"),
		FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff},
		Target: &schtypes.Target{Arn: aws.String(fnARN), RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
			Input: aws.String(`{"scheduled_time":"<aws.scheduler.scheduled-time>"}`)},
	})
	is.NoErr(err)
	t.Cleanup(func() {
		_, _ = cl.Scheduler.DeleteSchedule(context.Background(), &scheduler.DeleteScheduleInput{Name: aws.String("failing-hourly")})
	})

	moved, err := clockapi.MoveClock(ctx, c.URL, clockapi.ClockMove{Advance: "1h"})
	is.NoErr(err)
	is.Equal(moved.Fired, 1)
	is.Equal(moved.Failed, 1) // the run failed, and the advance says so

	msgs, err := cl.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10})
	is.NoErr(err)
	is.Equal(len(msgs.Messages), 1) // one record for the one failed run
	var record struct {
		RequestContext struct {
			Condition              string
			ApproximateInvokeCount int
		}
		RequestPayload  map[string]string
		ResponseContext struct{ FunctionError string }
		ResponsePayload struct{ ErrorMessage string }
	}
	is.NoErr(json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &record))
	is.Equal(record.RequestContext.Condition, "RetriesExhausted")
	is.Equal(record.RequestContext.ApproximateInvokeCount, 2) // the run and its one retry
	is.Equal(record.ResponseContext.FunctionError, "Unhandled")
	is.True(strings.Contains(record.ResponsePayload.ErrorMessage, "no-such-table")) // why it failed
	is.True(record.RequestPayload["scheduled_time"] != "")                          // and which run it was
	is.True(strings.Contains(logs.String(), "lambda: failing-fn failed 2 times; sent the invocation record to arn:aws:sqs:us-east-1:000000000000:failing-dlq"))
}

// createFunction creates a function running the real bootstrap, removed
// at the end of the test, and returns its ARN.
func createFunction(t *testing.T, c *Cloud, name string, env map[string]string) string {
	t.Helper()
	out, err := clients(c).Lambda.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::000000000000:role/r"),
		Runtime: ltypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code:        &ltypes.FunctionCode{ZipFile: bootstrapZip(t, runtime.GOOS, runtime.GOARCH)},
		Environment: &ltypes.Environment{Variables: env},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteFunction(c, name) })
	return aws.ToString(out.FunctionArn)
}
