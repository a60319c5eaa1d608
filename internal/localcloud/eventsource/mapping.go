// Package eventsource is the embedded cloud's Lambda event source mappings
// for SQS queues: the Lambda API that creates, reads, updates and deletes
// them, and the poller that feeds each queue's messages to its function in
// batches on the cloud clock. kumo stores mappings without some of their
// settings and never polls them.
//
// The poller receives a batch from kumo's queue, keeping it invisible there
// for SQS's longest visibility timeout, and tracks on the cloud clock when
// each message it did not delete must become visible again (the queue's
// VisibilityTimeout after the receive): then it makes it visible in kumo at
// once. So a failed message comes back after its visibility timeout of
// cloud time, kumo counts its receives, and kumo's redrive policy moves it
// to the dead-letter queue after maxReceiveCount receives, where any SQS
// client can read it.
//
// It imports the standard library, the SDK types of the two small
// interfaces it calls, aws-lambda-go's event types and package linewriter;
// it never talks to an emulator directly.
package eventsource

import (
	"fmt"
	"strings"
)

// Limits of SQS event source mappings, as Lambda documents them.
const (
	defaultBatchSize = 10
	maxBatchSize     = 10_000
	maxFIFOBatchSize = 10
	maxWindowSeconds = 300
	minConcurrency   = 2
	maxConcurrency   = 1000
	// defaultConcurrency is how many batches a mapping without
	// ScalingConfig invokes at once: Lambda starts polling a queue with
	// five concurrent batches (and scales up from there, which the local
	// poller does not).
	defaultConcurrency = 5
)

// reportBatchItemFailures is the one FunctionResponseTypes value for SQS.
const reportBatchItemFailures = "ReportBatchItemFailures"

// Mapping is an event source mapping as Lambda's API shows it
// (EventSourceMappingConfiguration).
type Mapping struct {
	UUID                           string
	EventSourceMappingArn          string
	EventSourceArn                 string
	FunctionArn                    string
	BatchSize                      int
	MaximumBatchingWindowInSeconds int
	FunctionResponseTypes          []string       `json:",omitempty"`
	ScalingConfig                  *ScalingConfig `json:",omitempty"`
	State                          string
	StateTransitionReason          string
	// LastModified is in epoch seconds, as the API carries it.
	LastModified float64
}

// ScalingConfig bounds the concurrent invocations of one mapping.
type ScalingConfig struct {
	MaximumConcurrency int `json:",omitempty"`
}

// Enabled reports whether the mapping polls.
func (m Mapping) Enabled() bool { return m.State == "Enabled" }

// concurrency is how many batches the mapping invokes at once.
func (m Mapping) concurrency() int {
	if m.ScalingConfig != nil && m.ScalingConfig.MaximumConcurrency > 0 {
		return m.ScalingConfig.MaximumConcurrency
	}
	return defaultConcurrency
}

// reportsFailures reports whether the function returns batchItemFailures.
func (m Mapping) reportsFailures() bool {
	for _, t := range m.FunctionResponseTypes {
		if t == reportBatchItemFailures {
			return true
		}
	}
	return false
}

// check applies Lambda's limits for an SQS source; fifo says the queue is
// a FIFO queue.
func (m Mapping) check(fifo bool) error {
	switch {
	case m.BatchSize < 1 || m.BatchSize > maxBatchSize:
		return fmt.Errorf("BatchSize %d must be from 1 to %d", m.BatchSize, maxBatchSize)
	case fifo && m.BatchSize > maxFIFOBatchSize:
		return fmt.Errorf("BatchSize %d is over %d, the limit for a FIFO queue", m.BatchSize, maxFIFOBatchSize)
	case m.MaximumBatchingWindowInSeconds < 0 || m.MaximumBatchingWindowInSeconds > maxWindowSeconds:
		return fmt.Errorf("MaximumBatchingWindowInSeconds %d must be from 0 to %d", m.MaximumBatchingWindowInSeconds, maxWindowSeconds)
	case fifo && m.MaximumBatchingWindowInSeconds > 0:
		return fmt.Errorf("MaximumBatchingWindowInSeconds is not supported for FIFO queues")
	case m.BatchSize > 10 && m.MaximumBatchingWindowInSeconds < 1:
		return fmt.Errorf("BatchSize %d is over 10, which needs a MaximumBatchingWindowInSeconds of at least 1", m.BatchSize)
	}
	if c := m.ScalingConfig; c != nil && c.MaximumConcurrency != 0 && (c.MaximumConcurrency < minConcurrency || c.MaximumConcurrency > maxConcurrency) {
		return fmt.Errorf("ScalingConfig.MaximumConcurrency %d must be from %d to %d", c.MaximumConcurrency, minConcurrency, maxConcurrency)
	}
	for _, t := range m.FunctionResponseTypes {
		if t != reportBatchItemFailures {
			return fmt.Errorf("FunctionResponseTypes value %q is not %s", t, reportBatchItemFailures)
		}
	}
	return nil
}

// queueARN is an SQS queue's ARN split into its parts.
type queueARN struct {
	partition, region, account, name string
}

// parseQueueARN splits arn:PARTITION:sqs:REGION:ACCOUNT:NAME.
func parseQueueARN(arn string) (queueARN, bool) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[2] != "sqs" || p[3] == "" || p[4] == "" || p[5] == "" {
		return queueARN{}, false
	}
	return queueARN{partition: p[1], region: p[3], account: p[4], name: p[5]}, true
}

// functionName is the name in what the Lambda API accepts as FunctionName:
// a name, a function ARN or a partial ARN (ACCOUNT:function:NAME), with an
// optional qualifier.
func functionName(s string) string {
	if _, rest, ok := strings.Cut(s, "function:"); ok {
		name, _, _ := strings.Cut(rest, ":")
		return name
	}
	name, _, _ := strings.Cut(s, ":")
	return name
}
