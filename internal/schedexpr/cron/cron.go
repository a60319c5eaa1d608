// Package cron parses the cron() expressions of Amazon EventBridge Scheduler
// and computes when a schedule fires, on the wall clock of the schedule's
// time zone. It is pure: it uses the standard library only, keeps no state
// and does no I/O.
//
// The rules are AWS's, from "Schedule types in EventBridge Scheduler"
// (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html:
// fields, wildcards, daylight saving time) and EventBridge's "Cron
// expressions" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html:
// six fields, "?" in exactly one day field, "#" alone, the wrapping range
// 20-2). Where AWS is silent the package follows Quartz, whose syntax AWS's
// copies: L, LW, nW, nL and n#k stand alone, a step is at most the field's
// size, year ranges do not wrap, and nW, like 31, skips months too short.
package cron

import (
	"cmp"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

const (
	minYear = 1970
	maxYear = 2199
)

// Expression is a parsed cron() expression.
type Expression struct {
	minutes, hours, months set
	years                  set // offsets from minYear
	days                   set // for dayOfMonth
	weekdays               set // for dayOfWeek; 1 is Sunday, as in AWS
	rule                   rule
	n, k                   int // the day of nW, or the weekday of nL and n#k; the k of n#k
}

// rule is how an Expression picks its days.
type rule int

const (
	dayOfMonth     rule = iota // the set days
	lastDay                    // L in day-of-month
	lastWorkday                // LW in day-of-month
	nearestWorkday             // nW in day-of-month
	dayOfWeek                  // the set weekdays
	lastInMonth                // nL in day-of-week
	nthInMonth                 // n#k in day-of-week
)

// field describes one of the six fields, for parsing it and for saying in an
// error what it allows.
type field struct {
	name, unit, allowed string
	min, max            int
	names               []string // of min, min+1, ...
	step                bool     // whether "/" is allowed
	wrap                bool     // whether a range may run from a high value round to a low one
	base                int      // subtracted from values in a set
}

var (
	minutesField = field{name: "minutes", unit: "number", allowed: "0-59 with , - * /",
		min: 0, max: 59, step: true, wrap: true}
	hoursField = field{name: "hours", unit: "number", allowed: "0-23 with , - * /",
		min: 0, max: 23, step: true, wrap: true}
	dayOfMonthField = field{name: "day-of-month", unit: "number", allowed: "1-31 with , - * / or one of ?, L, LW, nW",
		min: 1, max: 31, step: true, wrap: true}
	monthField = field{name: "month", unit: "month", allowed: "1-12 or JAN-DEC with , - * /",
		min: 1, max: 12, step: true, wrap: true,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}}
	dayOfWeekField = field{name: "day-of-week", unit: "day", allowed: "1-7 or SUN-SAT with , - * or one of ?, L, nL, n#k",
		min: 1, max: 7, wrap: true, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
	yearField = field{name: "year", unit: "number", allowed: "1970-2199 with , - * /",
		min: minYear, max: maxYear, step: true, base: minYear}
)

// Parse parses the text inside cron(...): "minutes hours day-of-month month
// day-of-week year", e.g. "0 9 ? * MON-FRI *". Errors name the field and the
// bad value, e.g. `day-of-week "MON-FRY": ...`, and say what is allowed.
func Parse(fields string) (*Expression, error) {
	f := strings.Fields(fields)
	if len(f) != 6 {
		return nil, fmt.Errorf("cron expression %q has %d fields, want 6: minutes hours day-of-month month day-of-week year",
			fields, len(f))
	}
	e := &Expression{}
	var errs [6]error
	e.minutes, errs[0] = minutesField.parseSet(f[0])
	e.hours, errs[1] = hoursField.parseSet(f[1])
	if f[2] != "?" {
		errs[2] = e.parseDayOfMonth(f[2])
	}
	e.months, errs[3] = monthField.parseSet(f[3])
	if f[4] != "?" {
		errs[4] = e.parseDayOfWeek(f[4])
	}
	e.years, errs[5] = yearField.parseSet(f[5])
	if err := cmp.Or(errs[:]...); err != nil {
		return nil, err // the first field's
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, fmt.Errorf(`day-of-month %q and day-of-week %q: exactly one of them must be "?"`, f[2], f[4])
	}
	return e, nil
}

// parseDayOfMonth parses a day-of-month field other than "?".
func (e *Expression) parseDayOfMonth(text string) (err error) {
	f, up := &dayOfMonthField, strings.ToUpper(text)
	switch {
	case strings.ContainsAny(up, "?LW") && strings.ContainsAny(up, "?,-*/"):
		return f.errorf(text, "?, L and W stand alone, as in ?, L, LW or 15W")
	case up == "L":
		e.rule = lastDay
	case up == "LW":
		e.rule = lastWorkday
	case strings.HasSuffix(up, "W"):
		e.rule = nearestWorkday
		if e.n, _ = number(strings.TrimSuffix(up, "W")); e.n < 1 || e.n > 31 {
			return f.errorf(text, "W takes one day of the month before it, as in 15W")
		}
	default:
		e.rule = dayOfMonth
		e.days, err = f.parseSet(text)
	}
	return err
}

// parseDayOfWeek parses a day-of-week field other than "?".
func (e *Expression) parseDayOfWeek(text string) (err error) {
	f, up := &dayOfWeekField, strings.ToUpper(text)
	day, nth, hash := strings.Cut(up, "#")
	last := strings.HasSuffix(up, "L") // no day's name ends in L
	switch {
	case (hash || last || strings.Contains(up, "?")) && strings.ContainsAny(up, "?,-*/"):
		return f.errorf(text, "?, L and # stand alone, as in ?, L, 6L or 3#2")
	case up == "L": // the last day of the week
		e.rule = dayOfWeek
		e.weekdays.add(7)
	case hash:
		e.rule = nthInMonth
		if e.n, err = f.value(text, day); err != nil {
			return err
		}
		if e.k, _ = number(nth); e.k < 1 || e.k > 5 {
			return f.errorf(text, "# takes the week of the month after it, 1-5, as in 3#2")
		}
	case last:
		e.rule = lastInMonth
		e.n, err = f.value(text, strings.TrimSuffix(up, "L"))
	default:
		e.rule = dayOfWeek
		e.weekdays, err = f.parseSet(text)
	}
	return err
}

// parseSet parses a list of values, ranges and steps.
func (f *field) parseSet(text string) (set, error) {
	var s set
	up := strings.ToUpper(text)
	for _, c := range "?#/LW" {
		named := f.names != nil && (c == 'L' || c == 'W') // letters of a month's or a day's name
		if strings.ContainsRune(up, c) && !named && (c != '/' || !f.step) {
			return s, f.errorf(text, "%q is not allowed here", string(c))
		}
	}
	size := f.max - f.min + 1
	for item := range strings.SplitSeq(up, ",") {
		expr, stepText, stepped := strings.Cut(item, "/")
		step := 1
		if stepped {
			if step, _ = number(stepText); step < 1 || step > size {
				return s, f.errorf(text, "the step after / must be 1-%d", size)
			}
		}
		lo, hi := f.min, f.max
		if expr != "*" {
			from, to, ranged := strings.Cut(expr, "-")
			var err error
			if lo, err = f.value(text, from); err != nil {
				return s, err
			}
			if ranged {
				if hi, err = f.value(text, to); err != nil {
					return s, err
				}
			} else if !stepped {
				hi = lo
			}
		}
		if hi < lo && !f.wrap {
			return s, f.errorf(text, "the range %q runs backwards", expr)
		}
		for i := 0; i <= (hi-lo+size)%size; i += step {
			s.add((lo+i-f.min)%size + f.min - f.base)
		}
	}
	return s, nil
}

// value parses one number or name of the field.
func (f *field) value(text, s string) (int, error) {
	if n, ok := number(s); ok {
		if n < f.min || n > f.max {
			return 0, f.errorf(text, "%s is out of range", s)
		}
		return n, nil
	}
	for i, name := range f.names {
		if s == name {
			return f.min + i, nil
		}
	}
	if s == "" {
		return 0, f.errorf(text, "a value is missing")
	}
	return 0, f.errorf(text, "%q is not a %s", s, f.unit)
}

// errorf returns an error that names the field and its text and says what
// the field allows.
func (f *field) errorf(text, format string, args ...any) error {
	return fmt.Errorf("%s %q: %s (allowed: %s)", f.name, text, fmt.Sprintf(format, args...), f.allowed)
}

// number parses decimal digits. It stops counting past 9999, out of every
// field's range, so that long numbers cannot overflow.
func number(s string) (int, bool) {
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int(c-'0'), 10000)
	}
	return n, s != ""
}

// Next returns the first fire time strictly after t, evaluated on the wall
// clock of loc (the schedule's ScheduleExpressionTimezone; nil means UTC), or
// the zero Time if there is none (the year field is exhausted). The time is
// in loc, on a whole minute.
//
// As AWS documents for daylight saving time, a minute that the clock skips
// when it springs forward does not fire, and a minute that it repeats when
// it falls back fires once, the first time.
func (e *Expression) Next(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	wall := t.In(loc)
	y, month, d := wall.Date()
	h, mi, _ := wall.Clock()
	mo := int(month)
	mi++
	if y < minYear {
		y, mo, d, h, mi = minYear, 1, 1, 0, 0
	}
	// Each case moves to the first wall-clock minute the failing field could
	// match, so sparse schedules skip whole years, months, days and hours.
	// Values past a field's end carry into the field above in the next round.
	for y <= maxYear {
		switch {
		case !e.years.has(y - minYear):
			y, mo, d, h, mi = e.years.next(y-minYear)+minYear, 1, 1, 0, 0
		case mo > 12:
			y, mo, d, h, mi = y+1, 1, 1, 0, 0
		case !e.months.has(mo):
			mo, d, h, mi = e.months.next(mo), 1, 0, 0
		case d > daysIn(y, mo):
			mo, d, h, mi = mo+1, 1, 0, 0
		case h > 23 || !e.dayMatches(y, mo, d):
			d, h, mi = d+1, 0, 0
		case !e.hours.has(h):
			h, mi = e.hours.next(h), 0
		case mi > 59:
			h, mi = h+1, 0
		case !e.minutes.has(mi):
			mi = e.minutes.next(mi)
		default:
			if at, ok := instant(time.Date(y, time.Month(mo), d, h, mi, 0, 0, time.UTC), loc); ok && at.After(t) {
				return at
			}
			// Spring skipped the minute, or it is the repeat of one that
			// fired before fall turned the clock back, or it is not after t.
			mi++
		}
	}
	return time.Time{}
}

// dayMatches reports whether the day fields match day d of month m of year y.
func (e *Expression) dayMatches(y, m, d int) bool {
	switch e.rule {
	case lastDay:
		return d == daysIn(y, m)
	case lastWorkday:
		return d == workdayNear(y, m, daysIn(y, m))
	case nearestWorkday:
		return e.n <= daysIn(y, m) && d == workdayNear(y, m, e.n)
	case dayOfWeek:
		return e.weekdays.has(weekday(y, m, d))
	case lastInMonth:
		return d+7 > daysIn(y, m) && weekday(y, m, d) == e.n
	case nthInMonth:
		return (d-1)/7+1 == e.k && weekday(y, m, d) == e.n
	}
	return e.days.has(d)
}

// workdayNear returns the Monday-to-Friday day nearest to day n of a month,
// without leaving the month: AWS's nW.
func workdayNear(y, m, n int) int {
	switch weekday(y, m, n) {
	case 7: // Saturday
		if n == 1 {
			return 3
		}
		return n - 1
	case 1: // Sunday
		if n == daysIn(y, m) {
			return n - 2
		}
		return n + 1
	}
	return n
}

// weekday returns the day of the week in AWS's numbering, 1 (Sunday) to 7.
func weekday(y, m, d int) int {
	return int(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Weekday()) + 1
}

// daysIn returns the number of days in month m of year y.
func daysIn(y, m int) int {
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
}

// instant returns the first instant at which loc's clock reads wall (a wall
// clock time written in UTC), and false if the clock skips it.
func instant(wall time.Time, loc *time.Location) (time.Time, bool) {
	var first time.Time
	// A clock shift near wall changes the offset from the one in force a day
	// before to the one in force a day after; both are tried, and an offset
	// fits if it is the one in force at the instant it gives.
	for _, side := range [2]time.Duration{-24 * time.Hour, 24 * time.Hour} {
		_, off := wall.Add(side).In(loc).Zone()
		at := wall.Add(-time.Duration(off) * time.Second)
		if _, o := at.In(loc).Zone(); o == off && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first.In(loc), !first.IsZero()
}

// set is a set of small non-negative integers.
type set [4]uint64

func (s *set) add(v int) { s[v>>6] |= 1 << (v & 63) }

func (s *set) has(v int) bool { return uint(v) < 256 && s[v>>6]&(1<<(v&63)) != 0 }

// next returns the smallest member not below v, or 256 if there is none:
// past the end of every field, so the caller carries into the field above.
func (s *set) next(v int) int {
	for v = max(v, 0); v < 256; v = (v | 63) + 1 {
		if w := s[v>>6] >> (v & 63); w != 0 {
			return v + bits.TrailingZeros64(w)
		}
	}
	return 256
}
