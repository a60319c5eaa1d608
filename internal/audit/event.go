package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Event is an invocation payload: either {} (a manual invoke) or what the
// schedule's Input in template.yaml sends, with EventBridge Scheduler's
// context attributes filled in (events/schedule.json is an example).
type Event struct {
	// Source is "eventbridge-scheduler" when the schedule sent the event.
	Source string
	// ScheduledTime is when the schedule fired; zero for a manual invoke.
	ScheduledTime time.Time
	// ExecutionID, AttemptNumber and ScheduleARN change between retries,
	// so nothing is derived from them; the run's log line carries them.
	ExecutionID   string
	AttemptNumber string
	ScheduleARN   string
}

// eventJSON is the wire form of Event.
type eventJSON struct {
	Source        string `json:"source"`
	ScheduledTime string `json:"scheduled_time"`
	ExecutionID   string `json:"execution_id"`
	AttemptNumber string `json:"attempt_number"`
	ScheduleARN   string `json:"schedule_arn"`
}

// ParseEvent decodes and validates an invocation payload. An empty payload
// counts as {} (Lambda delivers {} when an invoke has no payload); anything
// that is not a JSON object, and a scheduled_time that is not RFC 3339, is an
// error. Fields it does not know are ignored.
func ParseEvent(payload []byte) (Event, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return Event{}, nil
	}
	if payload[0] != '{' {
		return Event{}, fmt.Errorf("event must be a JSON object, got %s", describeJSON(payload))
	}
	var raw eventJSON
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	ev := Event{
		Source:        raw.Source,
		ExecutionID:   raw.ExecutionID,
		AttemptNumber: raw.AttemptNumber,
		ScheduleARN:   raw.ScheduleARN,
	}
	if raw.ScheduledTime != "" {
		t, err := time.Parse(time.RFC3339, raw.ScheduledTime)
		if err != nil {
			return Event{}, fmt.Errorf("event scheduled_time %q is not an RFC 3339 time such as 2026-11-25T14:00:00Z", raw.ScheduledTime)
		}
		ev.ScheduledTime = t
	}
	return ev, nil
}

// clockSkew is how far a scheduled_time may be ahead of the function's
// clock beyond the schedule's flexible window: the scheduler's and the
// function's clocks may disagree a little (SigV4 tolerates 5 minutes).
const clockSkew = 5 * time.Minute

// notAhead refuses an event whose scheduled_time is ahead of now by more
// than window plus clockSkew. The scheduler only sends times that have
// come, so such an event was made by hand, and its run would stay "the
// latest run" until that date.
func notAhead(ev Event, now time.Time, window time.Duration) error {
	ahead := ev.ScheduledTime.Sub(now)
	if ev.ScheduledTime.IsZero() || ahead <= window+clockSkew {
		return nil
	}
	return fmt.Errorf("event scheduled_time %s is %s ahead of the function's clock (%s), more than the schedule's flexible window (%s) plus %s of clock skew: a run cannot be dated in the future, nothing was written",
		ev.ScheduledTime.UTC().Format(time.RFC3339), span(ahead), now.UTC().Format(time.RFC3339), span(window), span(clockSkew))
}

// NotAhead is notAhead for package org's coordinator, which validates the
// scheduler's event as Handle does.
func NotAhead(ev Event, now time.Time, window time.Duration) error { return notAhead(ev, now, window) }

// span is a duration for a reader: whole days when it is days, else
// hours, minutes and seconds.
func span(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/day)
	case d == 0:
		return "0s"
	}
	return d.Round(time.Second).String()
}

// CheckedAt is the instant a run judges every secret at: the scheduled
// time when the scheduler sent the event, so every row of a run, a retried
// fire, and a run in the local cloud's virtual time are judged at their own
// moment; otherwise (a manual invoke) now, to the second.
func CheckedAt(ev Event, now time.Time) time.Time {
	if !ev.ScheduledTime.IsZero() {
		return ev.ScheduledTime.UTC()
	}
	return now.UTC().Truncate(time.Second)
}

// RunID names the run after its scheduled time (tables.NewRunID), so
// a retried fire of the same schedule rewrites the same rows; without a
// scheduled time (a manual invoke) it uses now, milliseconds included, so
// two manual invokes in one second are two runs.
func RunID(ev Event, now time.Time) string {
	t := ev.ScheduledTime
	if t.IsZero() {
		t = now
	}
	return tables.NewRunID(t)
}

// describeJSON names the kind of a payload that is not an object, for errors.
func describeJSON(payload []byte) string {
	if !json.Valid(payload) {
		return "invalid JSON"
	}
	switch payload[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
