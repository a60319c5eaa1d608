package cron

import (
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, even where the system has no zoneinfo

	"github.com/matryer/is"
)

// layout writes a fire time on its schedule's wall clock, with the offset,
// so that expectations read like the schedule and are still exact instants.
const layout = "2006-01-02T15:04Z07:00"

// fire is one case: an expression, a start and the fire times after it,
// worked out by hand from a calendar; "none" means Next returned the zero
// Time.
type fire struct {
	name string
	expr string
	zone string // "" is UTC
	from string
	want []string
}

func (c fire) run(t *testing.T) {
	t.Run(c.name, func(t *testing.T) {
		is := is.New(t)
		loc, err := time.LoadLocation(c.zone)
		is.NoErr(err)
		e, err := Parse(c.expr)
		is.NoErr(err) // the expression parses
		from, err := time.Parse(layout, c.from)
		is.NoErr(err)
		var got []string
		for at := from; len(got) < len(c.want); {
			at = e.Next(at, loc)
			if at.IsZero() {
				got = append(got, "none")
				break
			}
			is.Equal(at.Location(), loc) // fire times are in the schedule's zone
			got = append(got, at.Format(layout))
		}
		is.Equal(got, c.want)
	})
}

// The examples in AWS's documentation: the EventBridge "Cron expressions"
// table and commands, and the Scheduler "Schedule types" page.
func TestNextRunsAWSExamples(t *testing.T) {
	for _, c := range []fire{
		{"0 10 * * ? * runs at 10:00 every day", "0 10 * * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-05T10:00Z", "2025-06-06T10:00Z", "2025-06-07T10:00Z"}},
		{"15 12 * * ? * runs at 12:15 every day", "15 12 * * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-04T12:15Z", "2025-06-05T12:15Z", "2025-06-06T12:15Z"}},
		{"0 18 ? * MON-FRI * runs at 18:00 on weekdays", "0 18 ? * MON-FRI *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-04T18:00Z", "2025-06-05T18:00Z", "2025-06-06T18:00Z", "2025-06-09T18:00Z"}},
		{"0 8 1 * ? * runs at 08:00 on the 1st of each month", "0 8 1 * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-07-01T08:00Z", "2025-08-01T08:00Z", "2025-09-01T08:00Z"}},
		{"0/15 * * * ? * runs every 15 minutes", "0/15 * * * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-04T10:15Z", "2025-06-04T10:30Z", "2025-06-04T10:45Z", "2025-06-04T11:00Z"}},
		{"0/10 * ? * MON-FRI * runs every 10 minutes on weekdays, skipping the weekend", "0/10 * ? * MON-FRI *", "",
			"2025-06-06T23:41Z", []string{"2025-06-06T23:50Z", "2025-06-09T00:00Z", "2025-06-09T00:10Z"}},
		{"0/5 8-17 ? * MON-FRI * runs every 5 minutes from 08:00 to 17:55 on weekdays", "0/5 8-17 ? * MON-FRI *", "",
			"2025-06-06T17:52Z", []string{"2025-06-06T17:55Z", "2025-06-09T08:00Z", "2025-06-09T08:05Z"}},
		{"0/30 20-2 ? * MON-FRI * wraps its hours round midnight", "0/30 20-2 ? * MON-FRI *", "", "2025-06-09T01:45Z",
			[]string{"2025-06-09T02:00Z", "2025-06-09T02:30Z", "2025-06-09T20:00Z", "2025-06-09T20:30Z"}},
		{"0/30 20-2 ? * MON-FRI * matches the hours after midnight only on weekdays", "0/30 20-2 ? * MON-FRI *", "",
			"2025-06-06T23:10Z", []string{"2025-06-06T23:30Z", "2025-06-09T00:00Z", "2025-06-09T00:30Z"}},
		{"0 0-2 ? * MON * runs from 00:00 to 02:00 on Monday mornings", "0 0-2 ? * MON *", "", "2025-06-09T00:00Z",
			[]string{"2025-06-09T01:00Z", "2025-06-09T02:00Z", "2025-06-16T00:00Z"}},
		{"0 12 * * ? * runs at noon every day", "0 12 * * ? *", "", "2025-06-04T12:00Z",
			[]string{"2025-06-05T12:00Z", "2025-06-06T12:00Z"}},
		{"5,35 14 * * ? * runs at 14:05 and 14:35", "5,35 14 * * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-04T14:05Z", "2025-06-04T14:35Z", "2025-06-05T14:05Z"}},
		{"15 10 ? * 6L 2019-2022 runs on the last Friday of each month until 2022", "15 10 ? * 6L 2019-2022", "",
			"2022-10-01T00:00Z", []string{"2022-10-28T10:15Z", "2022-11-25T10:15Z", "2022-12-30T10:15Z", "none"}},
		{"15 10 ? * 6L 2022-2023 runs on the last Friday of each month until 2023", "15 10 ? * 6L 2022-2023", "",
			"2023-11-30T00:00Z", []string{"2023-12-29T10:15Z", "none"}},
		{"0 9 ? * 2#1 * runs on the first Monday of each month", "0 9 ? * 2#1 *", "", "2025-06-04T10:07Z",
			[]string{"2025-07-07T09:00Z", "2025-08-04T09:00Z", "2025-09-01T09:00Z"}},
		{"0 12 L * ? * runs on the last day of each month", "0 12 L * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-30T12:00Z", "2025-07-31T12:00Z", "2025-08-31T12:00Z"}},
		{"0 12 ? * 6L * runs on the last Friday of each month", "0 12 ? * 6L *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-27T12:00Z", "2025-07-25T12:00Z", "2025-08-29T12:00Z"}},
		{"0 12 15W * ? * runs on the weekday nearest the 15th", "0 12 15W * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-16T12:00Z", "2025-07-15T12:00Z", "2025-08-15T12:00Z"}},
		{"30 8 * * ? * in America/New_York runs at 08:30 there", "30 8 * * ? *", "America/New_York",
			"2025-06-04T10:07Z", []string{"2025-06-04T08:30-04:00", "2025-06-05T08:30-04:00"}},
	} {
		c.run(t)
	}
}

func TestNextFollowsTheFields(t *testing.T) {
	for _, c := range []fire{
		{"a step over a range starts at its low end", "5-30/5 * * * ? *", "", "2025-06-04T10:27Z",
			[]string{"2025-06-04T10:30Z", "2025-06-04T11:05Z", "2025-06-04T11:10Z"}},
		{"*/n steps from the field's lowest value", "0 */8 * * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-04T16:00Z", "2025-06-05T00:00Z", "2025-06-05T08:00Z"}},
		{"a step wraps with its range", "0 22-3/2 * * ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-04T22:00Z", "2025-06-05T00:00Z", "2025-06-05T02:00Z", "2025-06-05T22:00Z"}},
		{"names are case-insensitive", "0 18 ? * mon-Fri *", "", "2025-06-06T19:00Z",
			[]string{"2025-06-09T18:00Z"}},
		{"fields are separated by any white space", " 0  18\t? * MON-FRI * ", "", "2025-06-06T19:00Z",
			[]string{"2025-06-09T18:00Z"}},
		{"a day-of-week range may wrap round the week", "0 0 ? * FRI-MON *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-06T00:00Z", "2025-06-07T00:00Z", "2025-06-08T00:00Z", "2025-06-09T00:00Z",
				"2025-06-13T00:00Z"}},
		{"a month range may wrap round the year", "0 0 1 NOV-FEB ? *", "", "2025-06-04T10:07Z",
			[]string{"2025-11-01T00:00Z", "2025-12-01T00:00Z", "2026-01-01T00:00Z", "2026-02-01T00:00Z",
				"2026-11-01T00:00Z"}},
		{"1 is Sunday and 7 is Saturday", "0 0 ? * 1,7 *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-07T00:00Z", "2025-06-08T00:00Z", "2025-06-14T00:00Z"}},
		{"L alone in day-of-week is Saturday", "0 0 ? * L *", "", "2025-06-04T10:07Z",
			[]string{"2025-06-07T00:00Z", "2025-06-14T00:00Z"}},
		{"the 29th of February fires only in leap years", "0 0 29 2 ? *", "", "2025-01-01T00:00Z",
			[]string{"2028-02-29T00:00Z", "2032-02-29T00:00Z", "2036-02-29T00:00Z"}},
		{"2100 is no leap year", "0 0 29 2 ? *", "", "2096-03-01T00:00Z",
			[]string{"2104-02-29T00:00Z"}},
		{"the 31st skips the months without one", "0 0 31 * ? *", "", "2025-01-31T00:00Z",
			[]string{"2025-03-31T00:00Z", "2025-05-31T00:00Z", "2025-07-31T00:00Z", "2025-08-31T00:00Z",
				"2025-10-31T00:00Z"}},
		{"1W on a Saturday moves forward to Monday the 3rd", "0 0 1W * ? *", "", "2025-01-15T00:00Z",
			[]string{"2025-02-03T00:00Z", "2025-03-03T00:00Z", "2025-04-01T00:00Z"}},
		{"31W on a Sunday moves back to Friday the 29th and skips short months", "0 0 31W * ? *", "",
			"2025-08-01T00:00Z", []string{"2025-08-29T00:00Z", "2025-10-31T00:00Z", "2025-12-31T00:00Z"}},
		{"15W on a Saturday moves back to Friday", "0 0 15W * ? *", "", "2025-11-01T00:00Z",
			[]string{"2025-11-14T00:00Z"}},
		{"L in February of a leap year is the 29th", "0 0 L * ? *", "", "2024-02-01T00:00Z",
			[]string{"2024-02-29T00:00Z", "2024-03-31T00:00Z", "2024-04-30T00:00Z"}},
		{"L in February of a common year is the 28th", "0 0 L 2 ? *", "", "2024-03-01T00:00Z",
			[]string{"2025-02-28T00:00Z", "2026-02-28T00:00Z"}},
		{"LW is the last weekday of the month", "0 0 LW * ? *", "", "2025-05-01T00:00Z",
			[]string{"2025-05-30T00:00Z", "2025-06-30T00:00Z", "2025-07-31T00:00Z", "2025-08-29T00:00Z"}},
		{"n#5 skips months without a fifth such day", "0 0 ? * 1#5 *", "", "2025-06-01T01:00Z",
			[]string{"2025-06-29T00:00Z", "2025-08-31T00:00Z", "2025-11-30T00:00Z"}},
		{"a day name may come before #", "0 0 ? * MON#1 *", "", "2025-06-04T10:07Z",
			[]string{"2025-07-07T00:00Z"}},
		{"a year step counts from its start", "0 0 1 1 ? 2030/10", "", "2025-06-04T10:07Z",
			[]string{"2030-01-01T00:00Z", "2040-01-01T00:00Z", "2050-01-01T00:00Z"}},
		{"Next is strictly after a fire time", "0 0 1 1 ? *", "", "2026-01-01T00:00Z",
			[]string{"2027-01-01T00:00Z"}},
		{"a start before 1970 waits for 1970", "0 0 1 1 ? *", "", "1960-06-01T00:00Z",
			[]string{"1970-01-01T00:00Z"}},
	} {
		c.run(t)
	}
}

func TestNextEndsWithTheYearField(t *testing.T) {
	for _, c := range []fire{
		{"a year range ends", "0 0 1 * ? 2025-2026", "", "2026-11-15T00:00Z",
			[]string{"2026-12-01T00:00Z", "none"}},
		{"a single year ends", "0 0 ? * MON 2025", "", "2025-12-28T00:00Z",
			[]string{"2025-12-29T00:00Z", "none"}},
		{"every year ends in 2199", "0 0 31 12 ? *", "", "2199-12-30T00:00Z",
			[]string{"2199-12-31T00:00Z", "none"}},
		{"a day that never comes never fires", "0 0 30 2 ? *", "", "2025-01-01T00:00Z",
			[]string{"none"}},
		{"a start after 2199 has no fire", "* * * * ? *", "", "2200-01-01T00:00Z",
			[]string{"none"}},
	} {
		c.run(t)
	}
}

// AWS: "When time shifts forward in the Spring, if a cron expression falls
// on a non-existent date and time, your schedule invocation is skipped. When
// time shifts backwards in the Fall, your schedule runs only once and does
// not repeat its invocation." In 2025 New York springs forward at 02:00 on
// 9 March and falls back at 02:00 on 2 November.
func TestNextFollowsTheScheduleTimeZone(t *testing.T) {
	for _, c := range []fire{
		{"09:00 in New York is 14:00Z in winter", "0 9 * * ? *", "America/New_York", "2025-01-15T00:00Z",
			[]string{"2025-01-15T09:00-05:00"}},
		{"09:00 in New York is 13:00Z in summer", "0 9 * * ? *", "America/New_York", "2025-07-15T00:00Z",
			[]string{"2025-07-15T09:00-04:00"}},
		{"a daily time that spring skips does not fire that day", "30 2 * * ? *", "America/New_York",
			"2025-03-08T12:00Z", []string{"2025-03-10T02:30-04:00", "2025-03-11T02:30-04:00"}},
		{"a daily time that fall repeats fires once, the first time", "30 1 * * ? *", "America/New_York",
			"2025-11-01T12:00Z", []string{"2025-11-02T01:30-04:00", "2025-11-03T01:30-05:00"}},
		{"a frequent schedule skips the missing hour in spring", "0/30 * * * ? *", "America/New_York",
			"2025-03-09T05:45Z", []string{"2025-03-09T01:00-05:00", "2025-03-09T01:30-05:00",
				"2025-03-09T03:00-04:00", "2025-03-09T03:30-04:00"}},
		{"a frequent schedule does not repeat the repeated hour in fall", "0/30 * * * ? *", "America/New_York",
			"2025-11-02T04:45Z", []string{"2025-11-02T01:00-04:00", "2025-11-02T01:30-04:00",
				"2025-11-02T02:00-05:00", "2025-11-02T02:30-05:00"}},
		{"a start inside the repeated hour waits for its end", "0/30 * * * ? *", "America/New_York",
			"2025-11-02T06:10Z", []string{"2025-11-02T02:00-05:00"}},
		{"AWS's example cron(30 2 * * ? *) skips the spring day in Los Angeles", "30 2 * * ? *",
			"America/Los_Angeles", "2025-03-08T12:00Z", []string{"2025-03-10T02:30-07:00"}},
		{"AWS's example cron(30 2 * * ? *) runs once on the fall day in Los Angeles", "30 2 * * ? *",
			"America/Los_Angeles", "2025-11-01T12:00Z", []string{"2025-11-02T02:30-08:00", "2025-11-03T02:30-08:00"}},
		{"a half-hour shift back repeats a time once too", "45 1 * * ? *", "Australia/Lord_Howe",
			"2025-04-05T00:00Z", []string{"2025-04-06T01:45+11:00", "2025-04-07T01:45+10:30"}},
	} {
		c.run(t)
	}
}

func TestNextFiresOnWholeMinutes(t *testing.T) {
	is := is.New(t)
	e, err := Parse("* * * * ? *")
	is.NoErr(err)
	from := time.Date(2025, 6, 4, 10, 7, 59, 999_999_999, time.UTC)
	is.Equal(e.Next(from, time.UTC), time.Date(2025, 6, 4, 10, 8, 0, 0, time.UTC))
}

func TestNextAcceptsANilLocationAsUTC(t *testing.T) {
	is := is.New(t)
	e, err := Parse("0 10 * * ? *")
	is.NoErr(err)
	from := time.Date(2025, 6, 4, 10, 7, 0, 0, time.UTC)
	is.Equal(e.Next(from, nil), time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC))
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct {
		name, expr, field, why string
	}{
		{"five fields", "0 10 * * ?", "cron expression", "has 5 fields, want 6"},
		{"seven fields", "0 0 10 * * ? *", "cron expression", "has 7 fields, want 6"},
		{"no fields", "   ", "cron expression", "has 0 fields"},
		{"minute 60", "60 10 * * ? *", "minutes", "60 is out of range"},
		{"hour 24", "0 24 * * ? *", "hours", "24 is out of range"},
		{"day 0", "0 0 0 * ? *", "day-of-month", "0 is out of range"},
		{"day 32", "0 0 32 * ? *", "day-of-month", "32 is out of range"},
		{"month 13", "0 0 1 13 ? *", "month", "13 is out of range"},
		{"weekday 0, which is Sunday only in Unix cron", "0 0 ? * 0 *", "day-of-week", "0 is out of range"},
		{"weekday 8", "0 0 ? * 8 *", "day-of-week", "8 is out of range"},
		{"year 1969", "0 0 1 1 ? 1969", "year", "1969 is out of range"},
		{"year 2200", "0 0 1 1 ? 2200", "year", "2200 is out of range"},
		{"both day fields set", "0 0 * * MON *", "day-of-month", `exactly one of them must be "?"`},
		{"* in both day fields", "0 0 * * * *", "day-of-month", `exactly one of them must be "?"`},
		{"? in both day fields", "0 0 ? * ? *", "day-of-month", `exactly one of them must be "?"`},
		{"? in minutes", "? 0 * * ? *", "minutes", `"?" is not allowed`},
		{"? in month", "0 0 1 ? ? *", "month", `"?" is not allowed`},
		{"? in a list", "0 0 ?,1 * ? *", "day-of-month", "stand alone"},
		{"# in day-of-month", "0 0 3#2 * ? *", "day-of-month", `"#" is not allowed`},
		{"# in hours", "0 3#2 ? * MON *", "hours", `"#" is not allowed`},
		{"# in a list, which AWS names invalid", "0 0 ? * 3#1,6#3 *", "day-of-week", "stand alone"},
		{"# after the fifth week", "0 0 ? * 3#6 *", "day-of-week", "1-5"},
		{"# without a week", "0 0 ? * 3# *", "day-of-week", "1-5"},
		{"W in hours", "0 5W * * ? *", "hours", `"W" is not allowed`},
		{"W in day-of-week", "0 0 ? * 5W *", "day-of-week", `"5W" is not a day`},
		{"W after day 32", "0 0 32W * ? *", "day-of-month", "W takes one day"},
		{"W in a list", "0 0 1,15W * ? *", "day-of-month", "stand alone"},
		{"L in minutes", "L 0 * * ? *", "minutes", `"L" is not allowed`},
		{"L in a day-of-month list", "0 0 L,15 * ? *", "day-of-month", "stand alone"},
		{"L in a day-of-week range", "0 0 ? * 2-6L *", "day-of-week", "stand alone"},
		{"a misspelt day", "0 18 ? * MON-FRY *", "day-of-week", `"FRY" is not a day`},
		{"a month's full name", "0 0 1 JANUARY ? *", "month", `"JANUARY" is not a month`},
		{"a name in a numeric field", "0 MON ? * MON *", "hours", `"MON" is not a number`},
		{"a step of 0", "0/0 * * * ? *", "minutes", "the step after / must be 1-60"},
		{"a step larger than the field", "0 */25 * * ? *", "hours", "the step after / must be 1-24"},
		{"a step that is no number", "0/x * * * ? *", "minutes", "the step after /"},
		{"a step in day-of-week, which AWS does not list", "0 0 ? * 1/2 *", "day-of-week", `"/" is not allowed`},
		{"a signed number", "+5 * * * ? *", "minutes", `"+5" is not a number`},
		{"an empty list item", "0,,30 * * * ? *", "minutes", "a value is missing"},
		{"an open range", "0 8- * * ? *", "hours", "a value is missing"},
		{"a backwards year range", "0 0 1 1 ? 2030-2025", "year", `the range "2030-2025" runs backwards`},
		{"a huge number", "99999999999999999999 * * * ? *", "minutes", "99999999999999999999 is out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			e, err := Parse(c.expr)
			is.True(err != nil) // refused
			is.True(e == nil)
			msg := err.Error()
			is.True(strings.HasPrefix(msg, c.field+" ")) // the error names the field
			is.True(strings.Contains(msg, c.why))        // and says what is wrong
		})
	}
}

func TestParseErrorsSayWhatIsAllowed(t *testing.T) {
	is := is.New(t)
	_, err := Parse("0 18 ? * MON-FRY *")
	is.Equal(err.Error(),
		`day-of-week "MON-FRY": "FRY" is not a day (allowed: 1-7 or SUN-SAT with , - * or one of ?, L, nL, n#k)`)
}

// Next must be cheap enough to list a busy schedule's fires over months, and
// must skip whole years rather than step through them when a schedule is
// sparse.
func TestNextIsFast(t *testing.T) {
	is := is.New(t)
	busy, err := Parse("0/5 * * * ? *")
	is.NoErr(err)
	never, err := Parse("0 0 30 2 ? *")
	is.NoErr(err)
	fires := make([]time.Time, 0, 50_000)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for range cap(fires) {
		at = busy.Next(at, time.UTC)
		fires = append(fires, at)
	}
	none := never.Next(at, time.UTC) // searches to the end of 2199
	took := time.Since(start)
	t.Logf("50,000 fires and one search to 2199 in %v", took)
	for i := 1; i < len(fires); i++ {
		is.Equal(fires[i].Sub(fires[i-1]), 5*time.Minute) // consecutive fires
	}
	is.Equal(at, time.Date(2025, 6, 23, 14, 40, 0, 0, time.UTC)) // 50,000 × 5 minutes later
	is.True(none.IsZero())
	budget := 100 * time.Millisecond
	if raceDetector() {
		budget *= 10
	}
	is.True(took < budget)
}

// raceDetector reports whether the test runs under the race detector, which
// slows the time package, and so Next, about tenfold.
func raceDetector() bool {
	info, ok := debug.ReadBuildInfo()
	return ok && slices.Contains(info.Settings, debug.BuildSetting{Key: "-race", Value: "true"})
}

func BenchmarkNext(b *testing.B) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, expr string
		loc        *time.Location
	}{
		{"every 5 minutes UTC", "0/5 * * * ? *", time.UTC},
		{"weekdays 09:00 New York", "0 9 ? * MON-FRI *", ny},
		{"29 February New York", "0 0 29 2 ? *", ny},
	} {
		b.Run(c.name, func(b *testing.B) {
			e, err := Parse(c.expr)
			if err != nil {
				b.Fatal(err)
			}
			at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				if at = e.Next(at, c.loc); at.IsZero() {
					at = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"0 10 * * ? *", "0/15 * * * ? *", "0/5 8-17 ? * MON-FRI *", "0/30 20-2 ? * MON-FRI *",
		"0 9 ? * 2#1 *", "0 12 L * ? *", "0 12 ? * 6L *", "0 12 15W * ? *", "0 0 LW * ? *",
		"15 10 ? * 6L 2019-2022", "0 0 29 2 ? *", "0 0 1 NOV-FEB ? 2030/10", "30 1 * * ? *",
	} {
		f.Add(s, int64(1735689600)) // 2025-01-01T00:00Z
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		is := is.New(t)
		e, err := Parse(expr)
		if err != nil {
			return
		}
		from := time.Unix(unix%8e9, 0) // from about 1717 to 2223
		for _, loc := range []*time.Location{time.UTC, ny} {
			next := e.Next(from, loc)
			if next.IsZero() {
				continue
			}
			is.True(next.After(from))                                // Next is after its start
			is.Equal(next.Second(), 0)                               // on a whole minute
			is.True(e.Next(next.Add(-time.Second), loc).Equal(next)) // and is itself a fire time
		}
	})
}
