package localcloud

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

// sqsBatchBuilder builds testdata/sqsbatch, a function that prints what
// it gets and fails the records whose body says "fail".
var sqsBatchBuilder *bootstrap.Builder

// createSQSFunction creates a function running testdata/sqsbatch.
func createSQSFunction(t *testing.T, c *Cloud, name string) {
	t.Helper()
	zip, err := sqsBatchBuilder.Zip(context.Background(), runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	_, err = clients(c).Lambda.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::000000000000:role/r"),
		Runtime: ltypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &ltypes.FunctionCode{ZipFile: zip},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteFunction(c, name) })
}

// createQueue creates a queue, deleted at the end of the test, and returns
// its URL and ARN.
func createQueue(t *testing.T, c *Cloud, name string, attrs map[string]string) (string, string) {
	t.Helper()
	ctx := context.Background()
	q := clients(c).SQS
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = q.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	got, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl), got.Attributes["QueueArn"]
}

// advance moves the test cloud's clock, which processes what is due.
func advance(t *testing.T, c *Cloud, by string) {
	t.Helper()
	if _, err := clockapi.MoveClock(context.Background(), c.URL, clockapi.ClockMove{Advance: by}); err != nil {
		t.Fatal(err)
	}
}

// waitLogs waits until the function's output satisfies done: the output
// comes through the process's pipe, after its invocation has returned,
// so a slow machine (go test -race) may read it a moment later. It waits
// at most 10 s of real time; the assertions after it say what is wrong.
func waitLogs(logs *linewriter.Buffer, done func(string) bool) {
	for deadline := time.Now().Add(10 * time.Second); !done(logs.String()) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// receivedAll waits for n "got" lines of fn, then counts them per body.
func receivedAll(logs *linewriter.Buffer, fn string, n int) map[string][]string {
	waitLogs(logs, func(string) bool {
		total := 0
		for _, r := range received(logs, fn) {
			total += len(r)
		}
		return total >= n
	})
	return received(logs, fn)
}

// received counts the function's "got BODY receive=N" lines per body.
func received(logs *linewriter.Buffer, fn string) map[string][]string {
	re := regexp.MustCompile(`(?m)^\[` + regexp.QuoteMeta(fn) + `\] got (\S+) receive=(\d+)`)
	out := map[string][]string{}
	for _, m := range re.FindAllStringSubmatch(logs.String(), -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// A message sent to a queue with a mapping reaches the function; an item
// the function reports failed comes back after the queue's visibility
// timeout of cloud time, and after maxReceiveCount receives it is in the
// dead-letter queue, where an SQS client reads it.
func TestSQSMappingRedrivesFailedItemsOnTheCloudClock(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	logs := &linewriter.Buffer{}
	c := startCloud(t, logs)
	cl := clients(c)
	createSQSFunction(t, c, "esm-redrive-fn")
	dlqURL, dlqARN := createQueue(t, c, "esm-redrive-dlq", nil)
	workURL, workARN := createQueue(t, c, "esm-redrive-work", map[string]string{
		"VisibilityTimeout": "30",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"2"}`, dlqARN),
	})
	m, err := cl.Lambda.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("esm-redrive-fn"), EventSourceArn: aws.String(workARN),
		FunctionResponseTypes: []ltypes.FunctionResponseType{ltypes.FunctionResponseTypeReportBatchItemFailures},
	})
	is.NoErr(err)
	is.Equal(m.State, aws.String("Enabled"))

	_, err = cl.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(workURL), Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("1"), MessageBody: aws.String("ok-1")}, {Id: aws.String("2"), MessageBody: aws.String("fail-1")},
	}})
	is.NoErr(err)
	advance(t, c, "1s")
	is.Equal(receivedAll(logs, "esm-redrive-fn", 2), map[string][]string{"ok-1": {"1"}, "fail-1": {"1"}}) // both reached the function
	visible, err := cl.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(workURL), MaxNumberOfMessages: 10})
	is.NoErr(err)
	is.Equal(len(visible.Messages), 0) // ok-1 deleted, fail-1 invisible

	advance(t, c, "28s")
	is.Equal(received(logs, "esm-redrive-fn")["fail-1"], []string{"1"}) // not back before its visibility timeout
	advance(t, c, "3s")
	is.Equal(receivedAll(logs, "esm-redrive-fn", 3)["fail-1"], []string{"1", "2"}) // back after 30 cloud seconds, received twice
	advance(t, c, "31s")
	is.Equal(received(logs, "esm-redrive-fn"), map[string][]string{"ok-1": {"1"}, "fail-1": {"1", "2"}}) // maxReceiveCount 2: no third time

	dead, err := cl.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), MaxNumberOfMessages: 10})
	is.NoErr(err)
	is.Equal(len(dead.Messages), 1) // in the dead-letter queue
	is.Equal(aws.ToString(dead.Messages[0].Body), "fail-1")
	is.True(strings.Contains(logs.String(), "poller: esm-redrive-work -> esm-redrive-fn: batch of 2: 1 done, 1 reported failed"))
}

// The function gets at most BatchSize records per invocation, with the
// fields of Lambda's SQS event, and a queue that long-polls by default
// does not hold the poller up.
func TestSQSMappingHonoursBatchSize(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	logs := &linewriter.Buffer{}
	c := startCloud(t, logs)
	cl := clients(c)
	createSQSFunction(t, c, "esm-batch-fn")
	url, arn := createQueue(t, c, "esm-batch-work", map[string]string{"ReceiveMessageWaitTimeSeconds": "20"})
	for i := range 7 {
		_, err := cl.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("m" + strconv.Itoa(i))})
		is.NoErr(err)
	}
	_, err := cl.Lambda.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("esm-batch-fn"), EventSourceArn: aws.String(arn), BatchSize: aws.Int32(3),
	})
	is.NoErr(err)
	advance(t, c, "1s")
	receivedAll(logs, "esm-batch-fn", 7)

	var sizes []int
	for _, m := range regexp.MustCompile(`(?m)^\[esm-batch-fn\] batch (\d+)$`).FindAllStringSubmatch(logs.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	is.Equal(sizes, []int{1, 3, 3}) // seven messages in batches of at most three
	got := received(logs, "esm-batch-fn")
	is.Equal(len(got), 7)                                                       // every message once
	is.True(strings.Contains(logs.String(), "source="+arn+" region=us-east-1")) // the event names its queue and region
}

func TestEventSourceMappingAPI(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startCloud(t, nil)
	l := clients(c).Lambda
	createSQSFunction(t, c, "esm-api-fn")
	_, arn := createQueue(t, c, "esm-api-work", nil)

	_, err := l.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("no-such-fn"), EventSourceArn: aws.String(arn)})
	var notFound *ltypes.ResourceNotFoundException
	is.True(errors.As(err, &notFound)) // no such function
	_, err = l.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("esm-api-fn"), EventSourceArn: aws.String(arn + "-gone")})
	var invalid *ltypes.InvalidParameterValueException
	is.True(errors.As(err, &invalid)) // no such queue
	_, err = l.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("esm-api-fn"), EventSourceArn: aws.String(arn),
		ScalingConfig: &ltypes.ScalingConfig{MaximumConcurrency: aws.Int32(1)}})
	is.True(errors.As(err, &invalid)) // MaximumConcurrency is 2 to 1000
	_, err = l.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("esm-api-fn"), EventSourceArn: aws.String(arn), BatchSize: aws.Int32(11)})
	is.True(errors.As(err, &invalid)) // over 10 needs a batching window

	made, err := l.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("esm-api-fn"), EventSourceArn: aws.String(arn), Enabled: aws.Bool(false),
		BatchSize: aws.Int32(100), MaximumBatchingWindowInSeconds: aws.Int32(5),
		FunctionResponseTypes: []ltypes.FunctionResponseType{ltypes.FunctionResponseTypeReportBatchItemFailures},
		ScalingConfig:         &ltypes.ScalingConfig{MaximumConcurrency: aws.Int32(2)},
	})
	is.NoErr(err)
	_, err = l.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("esm-api-fn"), EventSourceArn: aws.String(arn)})
	var conflict *ltypes.ResourceConflictException
	is.True(errors.As(err, &conflict)) // one mapping per function and queue

	got, err := l.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: made.UUID})
	is.NoErr(err)
	is.Equal(aws.ToString(got.State), "Disabled")
	is.Equal(aws.ToInt32(got.BatchSize), int32(100))
	is.Equal(aws.ToInt32(got.MaximumBatchingWindowInSeconds), int32(5))
	is.Equal(got.FunctionResponseTypes, []ltypes.FunctionResponseType{ltypes.FunctionResponseTypeReportBatchItemFailures}) // kept, which kumo does not
	is.Equal(aws.ToInt32(got.ScalingConfig.MaximumConcurrency), int32(2))
	is.True(strings.HasSuffix(aws.ToString(got.FunctionArn), ":function:esm-api-fn"))

	up, err := l.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: made.UUID, Enabled: aws.Bool(true), BatchSize: aws.Int32(5)})
	is.NoErr(err)
	is.Equal(aws.ToString(up.State), "Enabled")
	is.Equal(aws.ToInt32(up.BatchSize), int32(5))
	is.Equal(aws.ToInt32(up.ScalingConfig.MaximumConcurrency), int32(2)) // what the update leaves out stays

	list, err := l.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String("esm-api-fn")})
	is.NoErr(err)
	is.Equal(len(list.EventSourceMappings), 1)
	is.Equal(aws.ToString(list.EventSourceMappings[0].UUID), aws.ToString(made.UUID))

	_, err = l.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: made.UUID})
	is.NoErr(err)
	_, err = l.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: made.UUID})
	is.True(errors.As(err, &notFound)) // gone
}

// The aws CLI (botocore's SQS JSON protocol) reaches a mapped function and
// reads the dead-letter queue. It skips where the aws CLI is missing.
func TestSQSMappingWithTheAWSCLI(t *testing.T) {
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the aws CLI is not installed; the SDK tests above cover the same wire protocol")
	}
	is := is.New(t)
	ctx := context.Background()
	logs := &linewriter.Buffer{}
	c := startCloud(t, logs)
	createSQSFunction(t, c, "esm-cli-fn")
	dlqURL, dlqARN := createQueue(t, c, "esm-cli-dlq", nil)
	workURL, workARN := createQueue(t, c, "esm-cli-work", map[string]string{
		"VisibilityTimeout": "10", "RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"1"}`, dlqARN),
	})
	_, err = clients(c).Lambda.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("esm-cli-fn"), EventSourceArn: aws.String(workARN),
	})
	is.NoErr(err)
	home := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", c.URL, "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("sqs", "send-message", "--queue-url", workURL, "--message-body", "from-cli")
	run("sqs", "send-message", "--queue-url", workURL, "--message-body", "crash-cli")
	advance(t, c, "1s")
	got := receivedAll(logs, "esm-cli-fn", 2)
	is.Equal(got["from-cli"], []string{"1"}) // the CLI's message reached the function
	advance(t, c, "11s")                     // the crashed batch's visibility timeout ends: maxReceiveCount 1
	out := run("sqs", "receive-message", "--queue-url", dlqURL, "--max-number-of-messages", "10")
	is.True(strings.Contains(out, "crash-cli")) // the CLI reads it in the dead-letter queue
}
