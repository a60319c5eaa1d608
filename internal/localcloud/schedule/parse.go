package schedule

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxDuration bounds the durations ParseDuration accepts: a century, well
// within what time.Duration holds (292 years).
const MaxDuration = 36500 * 24 * time.Hour

// durationSyntax is what time.ParseDuration reads; a string that matches
// it but does not parse is too large rather than malformed.
var durationSyntax = regexp.MustCompile(`^([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// ParseDuration reads a duration as time.ParseDuration does, plus days:
// "31d", "1d12h", "744h", "90m". It must be positive and at most
// MaxDuration.
func ParseDuration(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	malformed := fmt.Errorf("duration %q: want something like 31d, 1d12h or 744h", s)
	tooLarge := fmt.Errorf("duration %q is too large: the limit is %dd (100 years)", s, MaxDuration/(24*time.Hour))
	if strings.HasPrefix(rest, "-") {
		return 0, fmt.Errorf("duration %q must be positive: the cloud clock only moves forward", s)
	}
	var total time.Duration
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days, err := strconv.ParseFloat(rest[:i], 64)
		switch {
		case days > float64(MaxDuration/(24*time.Hour)): // +Inf when out of range
			return 0, tooLarge
		case err != nil, math.IsNaN(days), days < 0:
			return 0, malformed
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		switch {
		case err != nil && durationSyntax.MatchString(rest):
			return 0, tooLarge // time.ParseDuration says "invalid" on overflow
		case err != nil:
			return 0, malformed
		case d > MaxDuration:
			return 0, tooLarge
		}
		total += d
	}
	switch {
	case total > MaxDuration:
		return 0, tooLarge
	case total <= 0:
		return 0, fmt.Errorf("duration %q must be positive: the cloud clock only moves forward", s)
	}
	return total, nil
}

// ParseTime reads an RFC 3339 time (2027-02-28T09:00:00Z) or a date
// (2027-02-28, meaning midnight UTC).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want an RFC 3339 time such as 2027-02-28T09:00:00Z or a date such as 2027-02-28", s)
}
