package eventsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

// Queues is the part of the SQS client the mappings use.
type Queues interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Functions is the part of the Lambda client the mappings use.
type Functions interface {
	GetFunction(ctx context.Context, in *lambda.GetFunctionInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var (
	_ Queues    = (*sqs.Client)(nil)
	_ Functions = (*lambda.Client)(nil)
)

// holdSeconds is how long a received message stays invisible in the
// emulator's queue: SQS's longest visibility timeout, so that only the
// poller, on the cloud clock, decides when it is visible again.
const holdSeconds = 12 * 60 * 60

// minHold is the shortest time a message the function failed on stays
// invisible, even on a queue whose VisibilityTimeout is 0.
const minHold = time.Second

// Options configure Mappings.
type Options struct {
	// Now is the cloud time, for LastModified and for work that arrives.
	Now func() time.Time
	// Queues reaches the queues; Functions looks functions up and invokes them.
	Queues    Queues
	Functions Functions
	// Wake is called when the poller has new work (the scheduler's Wake);
	// nil means nobody is told.
	Wake func()
	// Logs gets one line per batch, prefixed "poller: "; nil discards them.
	Logs io.Writer
}

// Mappings holds the event source mappings and polls their queues. It is a
// schedule.Poller: the scheduler calls Due and Poll on the cloud clock.
type Mappings struct {
	opts Options
	logs *linewriter.Synced

	mu      sync.Mutex
	sources map[string]*source // by UUID, with deleted ones still holding messages
	order   []string           // UUIDs of the mappings in creation order
}

// source is one mapping and what its poller holds.
type source struct {
	m        Mapping
	queue    queueARN
	queueURL string
	removed  bool
	// pending says the queue may have visible messages, since when.
	pending bool
	since   time.Time
	// held are the messages received and not deleted, each with the cloud
	// time its visibility timeout ends.
	held map[string]time.Time
	// gathered is a batch waiting for the batching window to fill it, and
	// gathering when that window opened (zero when none is open). A
	// message that leaves the batch, its visibility timeout over, leaves
	// the window open.
	gathered  []sqstypes.Message
	gathering time.Time
}

func (s *source) active() bool { return !s.removed && s.m.Enabled() }

func (s *source) window() time.Duration {
	return time.Duration(s.m.MaximumBatchingWindowInSeconds) * time.Second
}

// New returns an empty set of mappings.
func New(opts Options) *Mappings {
	return &Mappings{opts: opts, logs: linewriter.NewSynced(opts.Logs), sources: map[string]*source{}}
}

// Notify says that messages may have arrived in the queue with this URL
// (a send, or a change of visibility): its mappings poll at once.
func (ms *Mappings) Notify(queueURL string) {
	name := queueURL[strings.LastIndexByte(queueURL, '/')+1:]
	ms.mu.Lock()
	woke := false
	for _, s := range ms.sources {
		if s.active() && s.queue.name == name {
			ms.markLocked(s)
			woke = true
		}
	}
	ms.mu.Unlock()
	if woke {
		ms.wake()
	}
}

// changedLocked follows a created or updated mapping: an enabled one polls
// at once, a disabled one drops what it was gathering (still held, those
// messages come back after their visibility timeout).
func (ms *Mappings) changedLocked(s *source) {
	if s.active() {
		ms.markLocked(s)
	} else {
		s.pending, s.gathered, s.gathering = false, nil, time.Time{}
	}
	go ms.wake() // never under the lock: the scheduler may be asking Due
}

// forgetLocked follows a deleted mapping, which stays in sources until the
// messages it holds have come back.
func (ms *Mappings) forgetLocked(s *source) {
	s.pending, s.gathered, s.gathering = false, nil, time.Time{}
	if len(s.held) == 0 {
		delete(ms.sources, s.m.UUID)
	}
	go ms.wake()
}

func (ms *Mappings) markLocked(s *source) {
	if !s.pending {
		s.pending, s.since = true, ms.opts.Now()
	}
}

func (ms *Mappings) wake() {
	if ms.opts.Wake != nil {
		ms.opts.Wake()
	}
}

// Due is the earliest cloud time at which a mapping has work: a queue that
// may hold messages, a held message whose visibility timeout ends, or a
// batching window that closes.
func (ms *Mappings) Due() (time.Time, bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var due time.Time
	consider := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	for _, s := range ms.sources {
		if s.pending && s.active() {
			consider(s.since)
		}
		if !s.gathering.IsZero() && s.active() {
			consider(s.gathering.Add(s.window()))
		}
		for _, until := range s.held {
			consider(until)
		}
	}
	return due, !due.IsZero()
}

// dueLocked reports whether s has work at now.
func (s *source) dueLocked(now time.Time) bool {
	if s.active() && (s.pending || !s.gathering.IsZero() && !s.gathering.Add(s.window()).After(now)) {
		return true
	}
	for _, until := range s.held {
		if !until.After(now) {
			return true
		}
	}
	return false
}

// Poll does the work due at now for every mapping, one after another in
// creation order: it makes visible again the messages whose visibility
// timeout has ended, then receives batches and invokes the function with
// them, up to the mapping's concurrency at once, and returns when the
// invocations are done.
func (ms *Mappings) Poll(ctx context.Context, now time.Time) {
	ms.mu.Lock()
	var due []*source
	for _, id := range slices.Sorted(maps.Keys(ms.sources)) {
		if s := ms.sources[id]; s.dueLocked(now) {
			due = append(due, s)
		}
	}
	ms.mu.Unlock()
	for _, s := range due {
		if ctx.Err() != nil {
			return
		}
		ms.poll(ctx, s, now)
	}
}

// poll does one mapping's work at now.
func (ms *Mappings) poll(ctx context.Context, s *source, now time.Time) {
	ms.mu.Lock()
	var expired []string
	for handle, until := range s.held {
		if !until.After(now) {
			expired = append(expired, handle)
			delete(s.held, handle)
		}
	}
	if len(expired) > 0 {
		// A gathered message whose visibility timeout ended is visible
		// again: it leaves the batch it was waiting in.
		s.gathered = slices.DeleteFunc(s.gathered, func(m sqstypes.Message) bool {
			return slices.Contains(expired, aws.ToString(m.ReceiptHandle))
		})
		if s.active() {
			ms.markLocked(s) // they are visible again
		}
	}
	if s.removed && len(s.held) == 0 {
		delete(ms.sources, s.m.UUID)
	}
	m, url, active := s.m, s.queueURL, s.active()
	// A new poll picks up the gathered batch, to fill it or, once the
	// window has closed, to invoke it as it is.
	pending := active && s.pending
	var gathered []sqstypes.Message
	var gathering time.Time
	if pending || active && !s.gathering.IsZero() && !s.gathering.Add(s.window()).After(now) {
		s.pending = false
		gathered, gathering = s.gathered, s.gathering
		s.gathered, s.gathering = nil, time.Time{}
	}
	ms.mu.Unlock()

	ms.release(ctx, m, url, expired)
	if !active || !pending && gathering.IsZero() {
		return
	}
	batches, more := ms.receive(ctx, s, m, now, gathered, gathering)
	if len(batches) == 0 {
		return
	}
	deletes := make([][]sqstypes.Message, len(batches))
	var wg sync.WaitGroup
	for i, batch := range batches {
		wg.Go(func() { deletes[i] = ms.invoke(ctx, m, batch) })
	}
	wg.Wait()
	for _, done := range deletes {
		ms.delete(ctx, s, url, done)
	}
	if more {
		ms.mu.Lock()
		ms.markLocked(s)
		ms.mu.Unlock()
	}
}

// receive takes up to the mapping's concurrency in batches from its queue,
// starting with the batch gathered so far, and holds every message it
// receives until the queue's visibility timeout from now. A batch smaller
// than BatchSize waits for more while the batching window is open. more
// says every batch was full, so the queue may hold more.
func (ms *Mappings) receive(ctx context.Context, s *source, m Mapping, now time.Time, gathered []sqstypes.Message, gathering time.Time) (batches [][]sqstypes.Message, more bool) {
	url := s.queueURL
	timeout, err := ms.visibilityTimeout(ctx, url)
	if err != nil {
		ms.logf("%s: cannot read the queue's visibility timeout: %v", label(m), err)
		timeout = 30 * time.Second // SQS's default, so held messages still come back
	}
	// A zero visibility timeout would make a failing message due again at
	// the same instant, over and over, and an advance would never end.
	timeout = max(timeout, minHold)
	window := time.Duration(m.MaximumBatchingWindowInSeconds) * time.Second
	for len(batches) < m.concurrency() {
		batch, start := gathered, gathering
		gathered, gathering = nil, time.Time{}
		if start.IsZero() {
			start = now
		}
		got, err := ms.receiveUpTo(ctx, url, m.BatchSize-len(batch))
		if err != nil && ctx.Err() == nil {
			ms.logf("%s: cannot receive messages: %v", label(m), err)
		}
		ms.mu.Lock()
		if s.held == nil {
			s.held = map[string]time.Time{}
		}
		for _, msg := range got {
			s.held[aws.ToString(msg.ReceiptHandle)] = now.Add(timeout)
		}
		ms.mu.Unlock()
		batch = append(batch, got...)
		switch {
		case len(batch) == 0:
			return batches, false
		case len(batch) == m.BatchSize:
			batches = append(batches, batch)
		case err == nil && window > 0 && now.Before(start.Add(window)):
			ms.mu.Lock()
			s.gathered, s.gathering = batch, start
			ms.mu.Unlock()
			return batches, false
		default:
			return append(batches, batch), false
		}
	}
	return batches, true
}

// receiveUpTo receives up to n messages, ten at a time (SQS's limit per
// call), until the queue has no more visible.
func (ms *Mappings) receiveUpTo(ctx context.Context, url string, n int) ([]sqstypes.Message, error) {
	var out []sqstypes.Message
	for len(out) < n {
		want := min(n-len(out), 10)
		got, err := ms.opts.Queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         int32(want),
			VisibilityTimeout:           holdSeconds,
			WaitTimeSeconds:             0,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		}, withoutWait)
		if err != nil {
			return out, fmt.Errorf("receive message: %w", err)
		}
		out = append(out, got.Messages...)
		if len(got.Messages) < want {
			break
		}
	}
	return out, nil
}

// withoutWait makes a ReceiveMessage call say WaitTimeSeconds 0. The SDK
// leaves a zero out, and then the queue's ReceiveMessageWaitTimeSeconds
// applies: a long poll of up to 20 real seconds that would hold up the
// scheduler and the cloud clock with it.
func withoutWait(o *sqs.Options) {
	o.HTTPClient = noWaitClient{next: o.HTTPClient}
}

type noWaitClient struct{ next sqs.HTTPClient }

func (c noWaitClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".ReceiveMessage") {
		return c.next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read receive request: %w", err)
	}
	var fields map[string]any
	if json.Unmarshal(body, &fields) == nil {
		fields["WaitTimeSeconds"] = 0
		body, _ = json.Marshal(fields)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	return c.next.Do(req)
}

// visibilityTimeout reads the queue's VisibilityTimeout.
func (ms *Mappings) visibilityTimeout(ctx context.Context, url string) (time.Duration, error) {
	out, err := ms.opts.Queues.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		return 0, fmt.Errorf("get queue attributes: %w", err)
	}
	secs, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)])
	if err != nil {
		return 0, fmt.Errorf("visibility timeout %q: %w", out.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)], err)
	}
	return time.Duration(secs) * time.Second, nil
}

// invoke runs the function on one batch, synchronously, and returns the
// messages to delete: all of them on success, none when the function
// fails, and those not in its batchItemFailures when the mapping has
// ReportBatchItemFailures.
func (ms *Mappings) invoke(ctx context.Context, m Mapping, batch []sqstypes.Message) []sqstypes.Message {
	payload, err := json.Marshal(Event(m, batch))
	if err != nil {
		ms.logf("%s: cannot encode the event: %v", label(m), err)
		return nil
	}
	out, err := ms.opts.Functions.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(m.FunctionArn), Payload: payload})
	switch {
	case err != nil:
		if ctx.Err() == nil {
			ms.logf("%s: cannot invoke the function on a batch of %d: %v; it comes back after the visibility timeout", label(m), len(batch), err)
		}
		return nil
	case out.FunctionError != nil:
		ms.logf("%s: the function failed on a batch of %d: %s; it comes back after the visibility timeout", label(m), len(batch), truncate(string(out.Payload), 300))
		return nil
	case !m.reportsFailures():
		ms.logf("%s: batch of %d done", label(m), len(batch))
		return batch
	}
	failed, err := BatchItemFailures(out.Payload, batch)
	if err != nil {
		ms.logf("%s: %v; the whole batch of %d comes back after the visibility timeout", label(m), err, len(batch))
		return nil
	}
	var done []sqstypes.Message
	for _, msg := range batch {
		if !failed[aws.ToString(msg.MessageId)] {
			done = append(done, msg)
		}
	}
	ms.logf("%s: batch of %d: %d done, %d reported failed (they come back after the visibility timeout)", label(m), len(batch), len(done), len(failed))
	return done
}

// delete deletes the messages the function is done with and stops holding them.
func (ms *Mappings) delete(ctx context.Context, s *source, url string, msgs []sqstypes.Message) {
	for chunk := range slices.Chunk(msgs, 10) {
		in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url)}
		for i, msg := range chunk {
			in.Entries = append(in.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle})
		}
		out, err := ms.opts.Queues.DeleteMessageBatch(ctx, in)
		switch {
		case err != nil && ctx.Err() == nil:
			ms.logf("%s: cannot delete %d messages: %v", label(s.m), len(chunk), err)
		case err == nil && len(out.Failed) > 0:
			ms.logf("%s: cannot delete %d messages: %s", label(s.m), len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
	}
	ms.mu.Lock()
	for _, msg := range msgs {
		delete(s.held, aws.ToString(msg.ReceiptHandle))
	}
	if s.removed && len(s.held) == 0 {
		delete(ms.sources, s.m.UUID)
	}
	ms.mu.Unlock()
}

// release makes held messages visible again, their visibility timeout over.
// A message deleted meanwhile (by another consumer) has nothing to release.
func (ms *Mappings) release(ctx context.Context, m Mapping, url string, handles []string) {
	for chunk := range slices.Chunk(handles, 10) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url)}
		for i, h := range chunk {
			in.Entries = append(in.Entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0})
		}
		if _, err := ms.opts.Queues.ChangeMessageVisibilityBatch(ctx, in); err != nil && ctx.Err() == nil {
			ms.logf("%s: cannot make %d messages visible again: %v", label(m), len(chunk), err)
		}
	}
}

// Event is the SQS event Lambda passes a function for a batch.
func Event(m Mapping, batch []sqstypes.Message) events.SQSEvent {
	region := ""
	if q, ok := parseQueueARN(m.EventSourceArn); ok {
		region = q.region
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(batch))}
	for _, msg := range batch {
		attrs := map[string]events.SQSMessageAttribute{}
		for name, v := range msg.MessageAttributes {
			attrs[name] = events.SQSMessageAttribute{
				StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType),
				StringListValues: append([]string{}, v.StringListValues...), BinaryListValues: append([][]byte{}, v.BinaryListValues...),
			}
		}
		system := maps.Clone(msg.Attributes)
		if system == nil {
			system = map[string]string{}
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:              aws.ToString(msg.MessageId),
			ReceiptHandle:          aws.ToString(msg.ReceiptHandle),
			Body:                   aws.ToString(msg.Body),
			Md5OfBody:              aws.ToString(msg.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes),
			Attributes:             system,
			MessageAttributes:      attrs,
			EventSourceARN:         m.EventSourceArn,
			EventSource:            "aws:sqs",
			AWSRegion:              region,
		})
	}
	return ev
}

// BatchItemFailures reads a function's response under
// ReportBatchItemFailures and returns the message IDs it reports failed.
// As Lambda does, it takes an empty or null response, or an empty or null
// list, as success for all, and refuses (an error: the whole batch failed)
// a response that is not such JSON or names an item that is empty or not
// in the batch.
func BatchItemFailures(payload []byte, batch []sqstypes.Message) (map[string]bool, error) {
	failed := map[string]bool{}
	trimmed := strings.TrimSpace(string(payload))
	if trimmed == "" || trimmed == "null" {
		return failed, nil
	}
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(payload, &resp); err != nil {
		return nil, fmt.Errorf("the function's response is not a batchItemFailures response: %v", err)
	}
	ids := map[string]bool{}
	for _, msg := range batch {
		ids[aws.ToString(msg.MessageId)] = true
	}
	for _, f := range resp.BatchItemFailures {
		id := aws.ToString(f.ItemIdentifier)
		if !ids[id] {
			return nil, fmt.Errorf("the function reported item %q failed, which is not a message of the batch", id)
		}
		failed[id] = true
	}
	return failed, nil
}

// label names a mapping in log lines: its queue and function.
func label(m Mapping) string {
	queue := m.EventSourceArn
	if q, ok := parseQueueARN(queue); ok {
		queue = q.name
	}
	return queue + " -> " + functionName(m.FunctionArn)
}

func (ms *Mappings) logf(format string, args ...any) {
	ms.logs.Printf("poller: "+format+"\n", args...)
}

// truncate shortens s to at most n bytes, for log lines.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
