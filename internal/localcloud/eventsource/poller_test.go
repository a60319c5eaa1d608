package eventsource

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

const (
	testQueueARN = "arn:aws:sqs:eu-west-1:123456789012:work"
	testQueueURL = "http://127.0.0.1:4566/123456789012/work"
	testFnARN    = "arn:aws:lambda:eu-west-1:123456789012:function:worker"
)

var t0 = time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)

// fakeQueue is one SQS queue: messages are visible or held by a receipt
// handle until the poller deletes or releases them.
type fakeQueue struct {
	mu       sync.Mutex
	visible  []sqstypes.Message
	held     map[string]sqstypes.Message
	counts   map[string]int
	seq      int
	receives []int // how many messages each receive asked for
	released []string
	timeout  string
}

func newFakeQueue(bodies ...string) *fakeQueue {
	q := &fakeQueue{held: map[string]sqstypes.Message{}, counts: map[string]int{}, timeout: "30"}
	q.send(bodies...)
	return q
}

func (q *fakeQueue) send(bodies ...string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range bodies {
		q.visible = append(q.visible, sqstypes.Message{MessageId: aws.String("id-" + b), Body: aws.String(b)})
	}
}

func (q *fakeQueue) GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(testQueueURL)}, nil
}

func (q *fakeQueue) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"VisibilityTimeout": q.timeout}}, nil
}

func (q *fakeQueue) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.receives = append(q.receives, int(in.MaxNumberOfMessages))
	n := min(int(in.MaxNumberOfMessages), len(q.visible))
	out := &sqs.ReceiveMessageOutput{}
	for _, m := range q.visible[:n] {
		q.seq++
		m.ReceiptHandle = aws.String("rh-" + strconv.Itoa(q.seq))
		q.counts[aws.ToString(m.Body)]++
		m.Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(q.counts[aws.ToString(m.Body)])}
		q.held[aws.ToString(m.ReceiptHandle)] = m
		out.Messages = append(out.Messages, m)
	}
	q.visible = q.visible[n:]
	return out, nil
}

func (q *fakeQueue) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range in.Entries {
		delete(q.held, aws.ToString(e.ReceiptHandle))
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (q *fakeQueue) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range in.Entries {
		h := aws.ToString(e.ReceiptHandle)
		if m, ok := q.held[h]; ok && e.VisibilityTimeout == 0 {
			delete(q.held, h)
			q.released = append(q.released, aws.ToString(m.Body))
			q.visible = append(q.visible, m)
		}
	}
	return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
}

// left is the bodies still in the queue, visible or held.
func (q *fakeQueue) left() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, m := range q.visible {
		out = append(out, aws.ToString(m.Body))
	}
	for _, m := range q.held {
		out = append(out, aws.ToString(m.Body))
	}
	slices.Sort(out)
	return out
}

// fakeFunction records the batches it gets; InvokeFn answers them.
type fakeFunction struct {
	mu       sync.Mutex
	batches  [][]string
	InvokeFn func(ev eventBodies) (*lambda.InvokeOutput, error)
}

// eventBodies is the part of an SQS event the fakes read.
type eventBodies struct {
	Records []struct {
		MessageID string `json:"messageId"`
		Body      string `json:"body"`
	}
}

func (f *fakeFunction) GetFunction(context.Context, *lambda.GetFunctionInput, ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error) {
	return nil, fmt.Errorf("not used")
}

func (f *fakeFunction) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var ev eventBodies
	if err := json.Unmarshal(in.Payload, &ev); err != nil {
		return nil, err
	}
	var bodies []string
	for _, r := range ev.Records {
		bodies = append(bodies, r.Body)
	}
	f.mu.Lock()
	f.batches = append(f.batches, bodies)
	fn := f.InvokeFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ev)
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte("null")}, nil
}

func (f *fakeFunction) Batches() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches)
}

// newMappings returns mappings with one mapping m on the fake queue,
// enabled and due at t0, as if created through the API.
func newMappings(q *fakeQueue, fn *fakeFunction, m Mapping) (*Mappings, *linewriter.Buffer) {
	logs := &linewriter.Buffer{}
	ms := New(Options{Now: func() time.Time { return t0 }, Queues: q, Functions: fn, Logs: logs})
	if m.BatchSize == 0 {
		m.BatchSize = defaultBatchSize
	}
	m.UUID, m.EventSourceArn, m.FunctionArn, m.State = "u-1", testQueueARN, testFnARN, "Enabled"
	src, _ := parseQueueARN(m.EventSourceArn)
	s := &source{m: m, queue: src, queueURL: testQueueURL}
	ms.sources[m.UUID] = s
	ms.order = append(ms.order, m.UUID)
	ms.changedLocked(s)
	return ms, logs
}

// drain polls at now for as long as work is due at now.
func drain(ms *Mappings, now time.Time) {
	for {
		due, ok := ms.Due()
		if !ok || due.After(now) {
			return
		}
		ms.Poll(context.Background(), now)
	}
}

func TestPollHonoursBatchSize(t *testing.T) {
	is := is.New(t)
	q := newFakeQueue("a", "b", "c", "d", "e", "f", "g")
	fn := &fakeFunction{}
	ms, _ := newMappings(q, fn, Mapping{BatchSize: 3, ScalingConfig: &ScalingConfig{MaximumConcurrency: 2}})
	drain(ms, t0)
	batches := fn.Batches()
	slices.SortFunc(batches, slices.Compare)                               // two run at once, in either order
	is.Equal(batches, [][]string{{"a", "b", "c"}, {"d", "e", "f"}, {"g"}}) // batches of at most three
	is.Equal(q.left(), []string(nil))                                      // all deleted
	_, due := ms.Due()
	is.True(!due) // nothing left to do
}

func TestPollReceivesTenAtATime(t *testing.T) {
	is := is.New(t)
	var bodies []string
	for i := range 25 {
		bodies = append(bodies, fmt.Sprintf("m%02d", i))
	}
	q := newFakeQueue(bodies...)
	fn := &fakeFunction{}
	ms, _ := newMappings(q, fn, Mapping{BatchSize: 25, MaximumBatchingWindowInSeconds: 1})
	drain(ms, t0)
	is.Equal(len(fn.Batches()), 1)             // one batch of 25
	is.Equal(q.receives[:3], []int{10, 10, 5}) // SQS hands out ten per call
}

// A function error leaves the whole batch; it comes back when the queue's
// visibility timeout has passed on the cloud clock, not before.
func TestFailedBatchComesBackAfterVisibilityTimeout(t *testing.T) {
	is := is.New(t)
	q := newFakeQueue("a", "b")
	calls := 0
	fn := &fakeFunction{InvokeFn: func(eventBodies) (*lambda.InvokeOutput, error) {
		calls++
		if calls == 1 {
			return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"), Payload: []byte(`{"errorMessage":"boom"}`)}, nil
		}
		return &lambda.InvokeOutput{StatusCode: 200}, nil
	}}
	ms, logs := newMappings(q, fn, Mapping{})
	drain(ms, t0)
	is.Equal(q.left(), []string{"a", "b"}) // none deleted
	due, ok := ms.Due()
	is.True(ok)
	is.Equal(due, t0.Add(30*time.Second)) // back after the visibility timeout

	drain(ms, t0.Add(29*time.Second))
	is.Equal(len(fn.Batches()), 1) // not before
	drain(ms, t0.Add(30*time.Second))
	is.Equal(sorted(q.released), []string{"a", "b"}) // made visible again
	batches := fn.Batches()
	is.Equal(len(batches), 2)
	is.Equal(sorted(batches[1]), []string{"a", "b"}) // and received again
	is.Equal(q.left(), []string(nil))                // deleted this time
	is.True(strings.Contains(logs.String(), "boom")) // the failure is logged with the function's error
}

// With ReportBatchItemFailures, only the reported items stay.
func TestReportedItemsStay(t *testing.T) {
	is := is.New(t)
	q := newFakeQueue("ok", "bad", "fine")
	fn := &fakeFunction{InvokeFn: func(ev eventBodies) (*lambda.InvokeOutput, error) {
		var failures []map[string]string
		for _, r := range ev.Records {
			if r.Body == "bad" {
				failures = append(failures, map[string]string{"itemIdentifier": r.MessageID})
			}
		}
		payload, _ := json.Marshal(map[string]any{"batchItemFailures": failures})
		return &lambda.InvokeOutput{StatusCode: 200, Payload: payload}, nil
	}}
	ms, _ := newMappings(q, fn, Mapping{FunctionResponseTypes: []string{reportBatchItemFailures}})
	drain(ms, t0)
	is.Equal(q.left(), []string{"bad"}) // the others are deleted

	// Without ReportBatchItemFailures the response is not read: all go.
	q2 := newFakeQueue("ok", "bad")
	ms2, _ := newMappings(q2, fn, Mapping{})
	drain(ms2, t0)
	is.Equal(q2.left(), []string(nil))
}

// A batch smaller than BatchSize waits for the batching window, unless
// more messages fill it first.
func TestBatchingWindow(t *testing.T) {
	is := is.New(t)
	q := newFakeQueue("a", "b")
	q.timeout = "600"
	fn := &fakeFunction{}
	ms, _ := newMappings(q, fn, Mapping{BatchSize: 4, MaximumBatchingWindowInSeconds: 60})
	drain(ms, t0)
	is.Equal(len(fn.Batches()), 0) // waiting for more
	due, _ := ms.Due()
	is.Equal(due, t0.Add(time.Minute)) // until the window closes

	q.send("c", "d", "e")
	ms.Notify(testQueueURL)
	drain(ms, t0.Add(10*time.Second))
	is.Equal(fn.Batches(), [][]string{{"a", "b", "c", "d"}}) // filled before the window closed
	drain(ms, t0.Add(69*time.Second))
	is.Equal(len(fn.Batches()), 1) // e waits for its own window
	drain(ms, t0.Add(70*time.Second))
	is.Equal(fn.Batches(), [][]string{{"a", "b", "c", "d"}, {"e"}}) // and goes when it closes
}

// No more than MaximumConcurrency invocations of one mapping run at once,
// and they do run side by side.
func TestMaximumConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		var bodies []string
		for i := range 10 {
			bodies = append(bodies, strconv.Itoa(i))
		}
		q := newFakeQueue(bodies...)
		var mu sync.Mutex
		active, most := 0, 0
		fn := &fakeFunction{InvokeFn: func(eventBodies) (*lambda.InvokeOutput, error) {
			mu.Lock()
			active++
			most = max(most, active)
			mu.Unlock()
			time.Sleep(time.Second)
			mu.Lock()
			active--
			mu.Unlock()
			return &lambda.InvokeOutput{StatusCode: 200}, nil
		}}
		ms, _ := newMappings(q, fn, Mapping{BatchSize: 1, ScalingConfig: &ScalingConfig{MaximumConcurrency: 3}})
		drain(ms, t0)
		is.Equal(len(fn.Batches()), 10) // every message
		is.Equal(most, 3)               // three at a time, never more
	})
}

// A deleted mapping stops polling, and what it held still comes back.
func TestDeletedMappingReleasesWhatItHeld(t *testing.T) {
	is := is.New(t)
	q := newFakeQueue("a")
	fn := &fakeFunction{InvokeFn: func(eventBodies) (*lambda.InvokeOutput, error) {
		return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled")}, nil
	}}
	ms, _ := newMappings(q, fn, Mapping{})
	drain(ms, t0)
	_, err := ms.remove("u-1")
	is.NoErr(err)
	drain(ms, t0.Add(30*time.Second))
	is.Equal(q.released, []string{"a"}) // visible again for other consumers
	is.Equal(len(fn.Batches()), 1)      // and not polled again
	_, due := ms.Due()
	is.True(!due)
	is.Equal(len(ms.sources), 0) // forgotten
}

func TestBatchItemFailures(t *testing.T) {
	batch := []sqstypes.Message{{MessageId: aws.String("m1")}, {MessageId: aws.String("m2")}}
	tests := []struct {
		payload string
		want    []string
		err     bool
	}{
		{payload: ``, want: nil},
		{payload: `null`, want: nil},
		{payload: `{}`, want: nil},
		{payload: `{"batchItemFailures":null}`, want: nil},
		{payload: `{"batchItemFailures":[]}`, want: nil},
		{payload: `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`, want: []string{"m2"}},
		{payload: `{"batchItemFailures":[{"itemIdentifier":"m1"},{"itemIdentifier":"m2"}]}`, want: []string{"m1", "m2"}},
		{payload: `{"batchItemFailures":[{"itemIdentifier":""}]}`, err: true},
		{payload: `{"batchItemFailures":[{"itemIdentifier":null}]}`, err: true},
		{payload: `{"batchItemFailures":[{"id":"m1"}]}`, err: true},
		{payload: `{"batchItemFailures":[{"itemIdentifier":"m9"}]}`, err: true},
		{payload: `"done"`, err: true},
		{payload: `{"batchItemFailures":`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			is := is.New(t)
			got, err := BatchItemFailures([]byte(tt.payload), batch)
			is.Equal(err != nil, tt.err) // Lambda takes this as a whole-batch failure, or not
			var ids []string
			for id := range got {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			is.Equal(ids, tt.want)
		})
	}
}

func TestEventHasLambdasShape(t *testing.T) {
	is := is.New(t)
	m := Mapping{EventSourceArn: testQueueARN}
	ev := Event(m, []sqstypes.Message{{
		MessageId: aws.String("m1"), ReceiptHandle: aws.String("rh"), Body: aws.String("hello"), MD5OfBody: aws.String("5d41"),
		Attributes:        map[string]string{"ApproximateReceiveCount": "2", "SentTimestamp": "1764075600000"},
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("k")}},
	}})
	data, err := json.Marshal(ev)
	is.NoErr(err)
	var got map[string][]map[string]any
	is.NoErr(json.Unmarshal(data, &got))
	r := got["Records"][0]
	is.Equal(r["messageId"], "m1")
	is.Equal(r["receiptHandle"], "rh")
	is.Equal(r["body"], "hello")
	is.Equal(r["md5OfBody"], "5d41")
	is.Equal(r["eventSource"], "aws:sqs")
	is.Equal(r["eventSourceARN"], testQueueARN)
	is.Equal(r["awsRegion"], "eu-west-1") // the queue's region
	is.Equal(r["attributes"], map[string]any{"ApproximateReceiveCount": "2", "SentTimestamp": "1764075600000"})
	is.Equal(r["messageAttributes"], map[string]any{"kind": map[string]any{
		"dataType": "String", "stringValue": "k", "stringListValues": []any{}, "binaryListValues": []any{},
	}}) // as Lambda writes message attributes
}

func TestCheckLimits(t *testing.T) {
	tests := []struct {
		name string
		m    Mapping
		fifo bool
		ok   bool
	}{
		{"defaults", Mapping{BatchSize: 10}, false, true},
		{"batch 0", Mapping{BatchSize: 0}, false, false},
		{"batch 11 without window", Mapping{BatchSize: 11}, false, false},
		{"batch 10000 with window", Mapping{BatchSize: 10000, MaximumBatchingWindowInSeconds: 1}, false, true},
		{"batch 10001", Mapping{BatchSize: 10001, MaximumBatchingWindowInSeconds: 1}, false, false},
		{"fifo batch 11", Mapping{BatchSize: 11, MaximumBatchingWindowInSeconds: 1}, true, false},
		{"fifo window", Mapping{BatchSize: 5, MaximumBatchingWindowInSeconds: 1}, true, false},
		{"window 301", Mapping{BatchSize: 5, MaximumBatchingWindowInSeconds: 301}, false, false},
		{"concurrency 1", Mapping{BatchSize: 5, ScalingConfig: &ScalingConfig{MaximumConcurrency: 1}}, false, false},
		{"concurrency 2", Mapping{BatchSize: 5, ScalingConfig: &ScalingConfig{MaximumConcurrency: 2}}, false, true},
		{"concurrency 1001", Mapping{BatchSize: 5, ScalingConfig: &ScalingConfig{MaximumConcurrency: 1001}}, false, false},
		{"response type", Mapping{BatchSize: 5, FunctionResponseTypes: []string{"ReportBatchItemFailures"}}, false, true},
		{"bad response type", Mapping{BatchSize: 5, FunctionResponseTypes: []string{"Other"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.check(tt.fifo)
			if (err == nil) != tt.ok {
				t.Errorf("check(%+v, fifo %v) = %v, want ok %v", tt.m, tt.fifo, err, tt.ok)
			}
		})
	}
}

func TestFunctionName(t *testing.T) {
	is := is.New(t)
	for _, in := range []string{"worker", "worker:live", testFnARN, testFnARN + ":$LATEST", "123456789012:function:worker"} {
		is.Equal(functionName(in), "worker") // name, ARN, qualified or partial
	}
}

// A message whose visibility timeout ends while it waits in a batching
// window leaves that batch and is received again, never twice in a batch.
func TestGatheredMessageOutlivingItsVisibilityTimeout(t *testing.T) {
	is := is.New(t)
	q := newFakeQueue("a")
	fn := &fakeFunction{}
	ms, _ := newMappings(q, fn, Mapping{BatchSize: 4, MaximumBatchingWindowInSeconds: 60}) // the queue's timeout is 30 s
	drain(ms, t0)
	drain(ms, t0.Add(30*time.Second))
	is.Equal(q.released, []string{"a"}) // visible again at 30 s
	drain(ms, t0.Add(5*time.Minute))
	is.Equal(fn.Batches(), [][]string{{"a"}}) // once, in one batch
	is.Equal(q.left(), []string(nil))
}

// On a queue whose visibility timeout is 0, a failed message is due again
// a second later, not at the same instant, so an advance moves on.
func TestZeroVisibilityTimeoutHoldsASecond(t *testing.T) {
	is := is.New(t)
	q := newFakeQueue("a")
	q.timeout = "0"
	fn := &fakeFunction{InvokeFn: func(eventBodies) (*lambda.InvokeOutput, error) {
		return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled")}, nil
	}}
	ms, _ := newMappings(q, fn, Mapping{})
	ms.Poll(context.Background(), t0)
	due, ok := ms.Due()
	is.True(ok)
	is.Equal(due, t0.Add(time.Second))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
