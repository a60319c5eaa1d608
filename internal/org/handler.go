package org

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
)

// Handler is the function in organization mode: a batch of SQS messages
// is work for the Worker; any other event (the schedule's, or {} by hand)
// starts a run with the Coordinator.
type Handler struct {
	Coordinator *Coordinator
	Worker      *Worker
}

// Invoke makes Handler a lambda.Handler: it receives the raw payload, so
// the coordinator validates the scheduler's event exactly as the
// single-account check does.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if ev, ok := sqsEvent(payload); ok {
		return json.Marshal(h.Worker.Handle(ctx, ev))
	}
	plan, err := h.Coordinator.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(plan)
}

// sqsEvent decodes a payload that is Lambda's SQS event: an object whose
// Records come from aws:sqs.
func sqsEvent(payload []byte) (events.SQSEvent, bool) {
	var ev events.SQSEvent
	if !bytes.Contains(payload, []byte(`"Records"`)) || json.Unmarshal(payload, &ev) != nil || len(ev.Records) == 0 {
		return ev, false
	}
	for _, r := range ev.Records {
		if r.EventSource != "aws:sqs" {
			return ev, false
		}
	}
	return ev, true
}
