package schedule

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// MaxSpeed bounds how much faster than real time the cloud clock may run:
// an hour in 36 ms. Faster than that, the functions cannot keep up with the
// schedules, and virtual time (Advance) is the better tool.
const MaxSpeed = 100_000

// Clock is the cloud's time: it runs Speed times faster than the real clock
// from where it started, and Scheduler.Advance moves it forward. It never
// moves back.
type Clock struct {
	speed float64

	mu    sync.Mutex
	base  time.Time // real time when cloud was last set
	cloud time.Time // cloud time at base
}

// CheckSpeed returns an error unless speed is a usable clock speed: a finite
// number from 1 to MaxSpeed.
func CheckSpeed(speed float64) error {
	if math.IsNaN(speed) || speed < 1 || speed > MaxSpeed {
		return fmt.Errorf("clock speed %g is out of range: it must be from 1 (real time) to %d (an hour in 36 ms)", speed, MaxSpeed)
	}
	return nil
}

// NewClock returns a clock that reads start now (the real time if start is
// zero) and runs speed times faster than real time.
func NewClock(start time.Time, speed float64) (*Clock, error) {
	if err := CheckSpeed(speed); err != nil {
		return nil, err
	}
	now := time.Now()
	if start.IsZero() {
		start = now
	}
	return &Clock{speed: speed, base: now, cloud: start}, nil
}

// Now is the current cloud time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	return c.cloud.Add(scale(time.Since(c.base), c.speed))
}

// Speed is how many cloud seconds pass in one real second.
func (c *Clock) Speed() float64 { return c.speed }

// ErrBackwards is wrapped by every attempt to move the clock back.
var ErrBackwards = errors.New("the cloud clock only moves forward")

// CheckForward returns an error wrapping ErrBackwards if to is before now,
// saying by how much.
func CheckForward(now, to time.Time) error {
	if !to.Before(now) {
		return nil
	}
	return fmt.Errorf("%w: it is %s, %s is %s earlier", ErrBackwards,
		formatTime(now), formatTime(to), now.Sub(to).Round(time.Second))
}

// set moves the clock forward to t.
func (c *Clock) set(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := CheckForward(c.nowLocked(), t); err != nil {
		return err
	}
	c.base, c.cloud = time.Now(), t
	return nil
}

// realUntil is how long, in real time, until the clock reads t. It rounds
// up, so that a wait never ends a fraction of a nanosecond too early and
// finds nothing due.
func (c *Clock) realUntil(t time.Time) time.Duration {
	d := t.Sub(c.Now())
	if d <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(float64(d) / c.speed))
}

// scale multiplies in floating point and saturates, because a high speed
// times a long span overflows time.Duration.
func scale(d time.Duration, f float64) time.Duration {
	v := float64(d) * f
	switch {
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(v)
}
