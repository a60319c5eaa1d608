package schedexpr

import (
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, zone string
		want       string // in the error; empty for a valid expression
	}{
		{expr: "rate(1 minute)"},
		{expr: "rate(5 minutes)"},
		{expr: "rate(1 hour)"},
		{expr: "rate(12 hours)"},
		{expr: "rate(1 day)"},
		{expr: "rate(7 days)"},
		{expr: "rate(banana)", want: "rate(banana)"},
		{expr: "rate(0 hours)", want: "positive"},
		{expr: "rate(-1 hours)", want: "rate(-1 hours)"},
		{expr: "rate(1 hours)", want: `use "hour"`},
		{expr: "rate(2 hour)", want: `use "hours"`},
		{expr: "rate(1 week)", want: "unit"},
		{expr: "rate(1 hour", want: "rate(1 hour"},
		{expr: "at(2026-11-25T14:00:00)"},
		{expr: "at(2026-11-25 14:00)", want: "at(2026-11-25 14:00)"},
		{expr: "at(2026-02-30T00:00:00)", want: "at(2026-02-30T00:00:00)"},
		{expr: "at(2026-11-25T14:00:00Z)", want: "yyyy-mm-dd"},
		{expr: "at(2026-11-25T9:00:00)", want: "yyyy-mm-dd"},
		{expr: "at(2026-11-25T14:00:00.5)", want: "yyyy-mm-dd"},
		{expr: "cron(0 * * * ? *)"},
		{expr: "cron(15 10 ? * 6L 2026-2027)"},
		{expr: "cron(0 9 ? * MON-FRI *)", zone: "Europe/Paris"},
		{expr: "cron(0 * * * ?)", want: "6"},
		{expr: "cron(0 9 * * MON *)", want: "?"},
		{expr: "cron(61 * * * ? *)", want: "minutes"},
		{expr: "rate(1 hour)", zone: "Mars/Olympus_Mons", want: "Mars/Olympus_Mons"},
		{expr: "", want: "empty"},
		{expr: "every hour", want: "every hour"},
		{expr: "nonsense", want: "nonsense"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" "+tt.zone, func(t *testing.T) {
			is := is.New(t)
			err := Check(tt.expr, tt.zone)
			if tt.want == "" {
				is.NoErr(err) // a valid expression
				return
			}
			is.True(err != nil)                             // an invalid expression
			is.True(strings.Contains(err.Error(), tt.want)) // the error says what is wrong
		})
	}
}

func TestFires(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	anchor := time.Date(2026, 11, 1, 0, 17, 0, 0, time.UTC)
	from, to := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	got, err := Fires("rate(1 hour)", "", anchor, from, to, 100)
	is.NoErr(err)
	is.Equal(got, []time.Time{from.Add(17 * time.Minute), from.Add(77 * time.Minute), from.Add(137 * time.Minute)}) // phased by the anchor
	got, err = Fires("rate(1 hour)", "", to.Add(time.Hour+17*time.Minute), from, to, 100)
	is.NoErr(err)
	is.Equal(len(got), 3) // an anchor after the span phases it too
	got, err = Fires("cron(0 9 ? * MON-FRI *)", "Europe/Paris", time.Time{}, time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC), 100)
	is.NoErr(err)
	is.Equal(got[0].UTC().Format(time.RFC3339), "2026-11-06T08:00:00Z") // Friday, then...
	is.Equal(got[1].UTC().Format(time.RFC3339), "2026-11-09T08:00:00Z") // ...Monday
	got, err = Fires("rate(1 minute)", "", from, from, to, 10)
	is.NoErr(err)
	is.Equal(len(got), 10) // bounded
	_, err = Fires("rate(banana)", "", from, from, to, 10)
	is.True(err != nil)
}
