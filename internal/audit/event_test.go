package audit

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestParseEventScheduleFixture(t *testing.T) {
	is := is.New(t)
	payload, err := os.ReadFile("../../events/schedule.json")
	is.NoErr(err)
	ev, err := ParseEvent(payload)
	is.NoErr(err)
	is.Equal(ev.Source, "eventbridge-scheduler")
	is.Equal(ev.ScheduledTime, time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	is.Equal(ev.AttemptNumber, "1")
	is.True(strings.HasSuffix(ev.ScheduleARN, ":schedule/default/rotcheck-hourly"))
	is.Equal(RunID(ev, time.Now()), "run-1795615200000") // derived from scheduled_time, not now
}

func TestParseEventManual(t *testing.T) {
	for _, payload := range []string{`{}`, ` { } `, ``, `{"source":"manual","other":[1,2]}`} {
		t.Run(payload, func(t *testing.T) {
			is := is.New(t)
			ev, err := ParseEvent([]byte(payload))
			is.NoErr(err)
			is.True(ev.ScheduledTime.IsZero()) // no scheduled time: run ID comes from now
			now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
			is.Equal(RunID(ev, now), "run-1767323045006")
		})
	}
}

func TestRunIDStableAcrossRetries(t *testing.T) {
	is := is.New(t)
	first, err := ParseEvent([]byte(`{"scheduled_time":"2026-11-25T14:00:00Z","execution_id":"a","attempt_number":"1"}`))
	is.NoErr(err)
	retry, err := ParseEvent([]byte(`{"scheduled_time":"2026-11-25T15:00:00+01:00","execution_id":"b","attempt_number":"2"}`))
	is.NoErr(err)
	is.Equal(RunID(first, time.Now()), RunID(retry, time.Now().Add(time.Hour))) // same instant, same run, whatever the attempt
}

func TestParseEventErrors(t *testing.T) {
	tests := []struct {
		payload string
		want    string
	}{
		{`[]`, "event must be a JSON object, got an array"},
		{`"hello"`, "event must be a JSON object, got a string"},
		{`42`, "event must be a JSON object, got a number"},
		{`true`, "event must be a JSON object, got a boolean"},
		{`null`, "event must be a JSON object, got null"},
		{`nope`, "event must be a JSON object, got invalid JSON"},
		{`{"source":`, "decode event"},
		{`{"scheduled_time":123}`, "decode event"},
		{`{"scheduled_time":"yesterday"}`, `scheduled_time "yesterday" is not an RFC 3339 time`},
		{`{"scheduled_time":"2026-11-25 14:00:00"}`, `scheduled_time "2026-11-25 14:00:00" is not an RFC 3339`},
		{`{"scheduled_time":"<aws.scheduler.scheduled-time>"}`, `scheduled_time "<aws.scheduler.scheduled-time>"`},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			is := is.New(t)
			_, err := ParseEvent([]byte(tt.payload))
			is.True(err != nil) // payload must be rejected
			is.True(strings.Contains(err.Error(), tt.want))
		})
	}
}
