package tables

import (
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestRunIDRoundTrips(t *testing.T) {
	is := is.New(t)
	at := time.Date(2026, 11, 25, 14, 0, 0, 123_000_000, time.UTC)
	id := NewRunID(at)
	is.Equal(id, "run-1795615200123") // "run-" and Unix milliseconds
	back, err := ParseRunID(id)
	is.NoErr(err)
	is.True(back.Equal(at)) // milliseconds kept
}

func TestRunIDsSortByTime(t *testing.T) {
	is := is.New(t)
	a := NewRunID(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	b := NewRunID(time.Date(2026, 10, 1, 0, 0, 0, 1_000_000, time.UTC))
	c := NewRunID(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	is.True(a < b && b < c) // the string order is the time order
}

func TestParseRunIDRejectsOtherShapes(t *testing.T) {
	for _, id := range []string{"", "run-", "run-abc", "1795615200000", "run--5", "Run-1795615200000", "run-1795615200000x"} {
		t.Run(id, func(t *testing.T) {
			is := is.New(t)
			_, err := ParseRunID(id)
			is.True(err != nil)                                 // not a run ID
			is.True(strings.Contains(err.Error(), "run-<Unix")) // the error shows the format
		})
	}
}

func TestNames(t *testing.T) {
	is := is.New(t)
	is.Equal(AuditTable("rotcheck"), "rotcheck-audit")
	is.Equal(RunsTable("rotcheck"), "rotcheck-runs")
	is.Equal(MonthOf(time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("x", -2*3600))), "2027-01") // UTC month
}

func TestOrganizationNames(t *testing.T) {
	is := is.New(t)
	is.Equal(OrgAuditTable("hub"), "hub-org-audit")
	is.Equal(UnitsTable("hub"), "hub-units")
	is.Equal(UnitOf("111111111111", "eu-west-1"), "111111111111/eu-west-1") // account first, so a Query with begins_with reads one account
}
