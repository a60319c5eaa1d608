// Package schedexpr reads EventBridge Scheduler's schedule expressions,
// rate(), cron() and at(), and says when a schedule fires, in its time zone.
// The read side uses it to know which runs a period should have; the
// embedded cloud's scheduler uses it to fire schedules on the cloud clock.
//
// It is pure: it imports only the standard library and package cron, and
// nothing of the embedded cloud.
package schedexpr

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/schedexpr/cron"
)

// Expression is a parsed schedule expression: rate(), at() or cron().
type Expression struct {
	text   string
	period time.Duration    // rate
	at     time.Time        // at: wall clock, read in the schedule's zone
	cron   *cron.Expression // cron
}

var (
	rateExpression = regexp.MustCompile(`^rate\(([0-9]+) ([a-z]+)\)$`)
	atExpression   = regexp.MustCompile(`^at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)$`)
	cronExpression = regexp.MustCompile(`^cron\((.*)\)$`)
)

var rateUnits = map[string]struct {
	period   time.Duration
	singular bool
}{
	"minute":  {time.Minute, true},
	"minutes": {time.Minute, false},
	"hour":    {time.Hour, true},
	"hours":   {time.Hour, false},
	"day":     {24 * time.Hour, true},
	"days":    {24 * time.Hour, false},
}

// Check validates a schedule expression and its time zone the way
// EventBridge Scheduler does on CreateSchedule; kumo accepts anything, even
// rate(banana), so the deployer calls this first. An empty zone means UTC.
func Check(expr, zone string) error {
	if _, err := Parse(expr); err != nil {
		return err
	}
	_, err := Location(zone)
	return err
}

// Parse parses rate(value unit), at(yyyy-mm-ddThh:mm:ss) or
// cron(minutes hours day-of-month month day-of-week year).
func Parse(expr string) (Expression, error) {
	if expr == "" {
		return Expression{}, errors.New("empty schedule expression")
	}
	invalid := func(why string) (Expression, error) {
		return Expression{}, fmt.Errorf("invalid schedule expression %q: %s", expr, why)
	}
	e := Expression{text: expr}
	switch {
	case strings.HasPrefix(expr, "rate("):
		m := rateExpression.FindStringSubmatch(expr)
		if m == nil {
			return invalid("want rate(value unit), e.g. rate(1 hour)")
		}
		value, err := strconv.Atoi(m[1])
		if err != nil || value <= 0 {
			return invalid("the value must be a positive integer")
		}
		unit, ok := rateUnits[m[2]]
		if !ok {
			return invalid("the unit must be minute(s), hour(s) or day(s)")
		}
		// AWS insists on the singular for 1 and the plural otherwise.
		if value == 1 && !unit.singular {
			return invalid(fmt.Sprintf("use %q for a value of 1", strings.TrimSuffix(m[2], "s")))
		}
		if value != 1 && unit.singular {
			return invalid(fmt.Sprintf("use %q for a value other than 1", m[2]+"s"))
		}
		if int64(value) > math.MaxInt64/int64(unit.period) {
			return invalid("the period is too long")
		}
		e.period = time.Duration(value) * unit.period
	case strings.HasPrefix(expr, "at("):
		m := atExpression.FindStringSubmatch(expr)
		if m == nil {
			return invalid("want at(yyyy-mm-ddThh:mm:ss)")
		}
		t, err := time.Parse("2006-01-02T15:04:05", m[1])
		if err != nil {
			return invalid("want at(yyyy-mm-ddThh:mm:ss)")
		}
		e.at = t
	case strings.HasPrefix(expr, "cron("):
		m := cronExpression.FindStringSubmatch(expr)
		if m == nil {
			return invalid("want cron(minutes hours day-of-month month day-of-week year)")
		}
		c, err := cron.Parse(m[1])
		if err != nil {
			return invalid(err.Error())
		}
		e.cron = c
	default:
		return invalid("want rate(...), at(...) or cron(...)")
	}
	return e, nil
}

// String is the expression as written.
func (e Expression) String() string { return e.text }

// Period is a rate() expression's period, zero for the others.
func (e Expression) Period() time.Duration { return e.period }

// Once reports whether the expression is an at(), which fires one time.
func (e Expression) Once() bool { return e.period == 0 && e.cron == nil }

// Occurrences iterates over one schedule's fire times: its expression,
// time zone, and StartDate and EndDate (zero for none).
type Occurrences struct {
	Expr       Expression
	Loc        *time.Location
	Start, End time.Time
}

// First is the first fire time after the schedule is armed at now, or zero.
// A rate() fires one period after it is armed (or after StartDate), on a
// whole second as the scheduled-time attribute has no fractions; an at()
// fires once at its wall-clock time in the zone, ignoring StartDate and
// EndDate as AWS does; a cron() fires at its times from StartDate on.
func (o Occurrences) First(now time.Time) time.Time {
	base := now
	if o.Start.After(base) {
		base = o.Start
	}
	var t time.Time
	switch {
	case o.Expr.period > 0:
		t = base.Truncate(time.Second).Add(o.Expr.period)
	case o.Expr.cron != nil:
		if o.Start.After(now) {
			base = o.Start.Add(-time.Nanosecond) // an occurrence at StartDate counts
		}
		t = o.Expr.cron.Next(base, o.Loc)
	default:
		w := o.Expr.at
		t = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, o.Loc)
		if t.Before(now) {
			return time.Time{}
		}
		return t
	}
	return o.bounded(t)
}

// After is the fire time that follows t, or zero.
func (o Occurrences) After(t time.Time) time.Time {
	switch {
	case o.Expr.period > 0:
		return o.bounded(t.Add(o.Expr.period))
	case o.Expr.cron != nil:
		return o.bounded(o.Expr.cron.Next(t, o.Loc))
	}
	return time.Time{}
}

// bounded returns t, or zero if it is at or past EndDate.
func (o Occurrences) bounded(t time.Time) time.Time {
	if !o.End.IsZero() && !t.Before(o.End) {
		return time.Time{}
	}
	return t
}

// Location loads a schedule's time zone; empty means UTC.
func Location(zone string) (*time.Location, error) {
	if zone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("timezone %q: %w", zone, err)
	}
	return loc, nil
}

// Fires lists the times in [from, to) at which a schedule with this
// expression fires, at most limit of them. A rate() schedule's times are
// one period apart, phased by anchor (any one of its fire times: a rate
// counts from when it was created, which a reader of its runs does not
// know otherwise); cron() and at() need no anchor.
func Fires(expr, zone string, anchor, from, to time.Time, limit int) ([]time.Time, error) {
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	loc, err := Location(zone)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	switch {
	case e.period > 0:
		t := anchor.Add(e.period * time.Duration(from.Sub(anchor)/e.period))
		for t.Before(from) {
			t = t.Add(e.period)
		}
		for ; t.Before(to) && len(out) < limit; t = t.Add(e.period) {
			out = append(out, t)
		}
	case e.cron != nil:
		for t := e.cron.Next(from.Add(-time.Nanosecond), loc); !t.IsZero() && t.Before(to) && len(out) < limit; t = e.cron.Next(t, loc) {
			out = append(out, t)
		}
	default:
		w := e.at
		if t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc); !t.Before(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	return out, nil
}
