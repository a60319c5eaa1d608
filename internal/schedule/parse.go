package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a duration as time.ParseDuration does, plus days:
// "31d", "1d12h", "744h", "90m". It must be positive.
func ParseDuration(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	if strings.HasPrefix(rest, "-") {
		return 0, fmt.Errorf("duration %q must be positive: the cloud clock only moves forward", s)
	}
	var total time.Duration
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("duration %q: want something like 31d, 1d12h or 744h", s)
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want something like 31d, 1d12h or 744h", s)
		}
		total += d
	}
	if total <= 0 {
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
