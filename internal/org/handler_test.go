package org

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/matryer/is"
)

// The same function is coordinator and worker: an SQS batch is work for
// the worker, and answered with its batch item failures; the schedule's
// event starts a run.
func TestHandlerTellsWorkFromAFire(t *testing.T) {
	is := is.New(t)
	h := newHub("111111111111/us-east-1")
	var r coordination
	handler := &Handler{Coordinator: r.coordinator(t, testConfig(), nil), Worker: worker(t, h, map[string][]string{"111111111111": {"db"}}, nil)}

	batch, _ := json.Marshal(sqsBatch("1", "111111111111/us-east-1"))
	out, err := handler.Invoke(context.Background(), batch)
	is.NoErr(err)
	is.Equal(string(out), `{"batchItemFailures":[]}`) // Lambda's answer to a batch: nothing to retry
	is.Equal(h.done, 1)
	is.Equal(len(r.sends), 0) // no run started

	out, err = handler.Invoke(context.Background(), []byte(`{"source":"eventbridge-scheduler","scheduled_time":"2026-11-25T14:00:00Z"}`))
	is.NoErr(err)
	var plan Plan
	is.NoErr(json.Unmarshal(out, &plan))
	is.Equal(plan.Units, 4)
	is.Equal(len(r.sends), 1)

	_, ok := sqsEvent([]byte(`{"Records":[{"eventSource":"aws:s3"}]}`))
	is.True(!ok) // another service's records are not units
}
