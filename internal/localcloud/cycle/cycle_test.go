package cycle

import (
	"bytes"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
)

const ms = time.Millisecond

func TestSpreads(t *testing.T) {
	is := is.New(t)
	all := []Phases{
		{Start: 30 * ms, Deploy: 9 * ms, Teardown: 1 * ms, Cold: 40 * ms},
		{Start: 10 * ms, Deploy: 7 * ms, Teardown: 3 * ms, Cold: 20 * ms},
		{Start: 20 * ms, Deploy: 8 * ms, Teardown: 2 * ms, Cold: 30 * ms},
	}
	s := Spreads(all)
	is.Equal(len(s), 9) // seven phases, the total and the cold start
	is.Equal(s[0], Spread{Phase: "start", Min: 10 * ms, Median: 20 * ms, Max: 30 * ms})
	is.Equal(s[7], Spread{Phase: "total", Min: 20 * ms, Median: 30 * ms, Max: 40 * ms}) // each cycle's own total, sorted
	is.Equal(s[8], Spread{Phase: "cold start", Min: 20 * ms, Median: 30 * ms, Max: 40 * ms})
}

func TestFloor(t *testing.T) {
	is := is.New(t)
	is.Equal(Floor(150, ms), 2*ms)               // a full page and a partial one
	is.Equal(Floor(100, ms), ms)                 // exactly one page
	is.Equal(Floor(10000, 20*ms), 2*time.Second) // 100 pages one after another
	is.Equal(Floor(1000, 0), time.Duration(0))   // no added latency, no floor
	is.Equal(ratio(3*ms, 2*ms), "1.50")
	is.Equal(ratio(3*ms, 0), "-") // no floor to compare with
}

func TestIsEdited(t *testing.T) {
	is := is.New(t)
	count := func(n, percent int) int {
		k := 0
		for i := range n {
			if isEdited(i, percent) {
				k++
			}
		}
		return k
	}
	is.Equal(count(150, 10), 15)                                      // bench-latency's test: 10% of 150 looked up
	is.Equal(count(1000, 0), 0)                                       // none
	is.Equal(count(1000, 100), 1000)                                  // all
	is.True(!isEdited(0, 10) && isEdited(9, 10) && !isEdited(10, 10)) // spread: one in each ten
}

func TestLatencyResultOther(t *testing.T) {
	is := is.New(t)
	r := LatencyResult{Calls: map[string]int{OpListSecrets: 2, OpBatchWrite: 6, OpListVersions: 15, "DynamoDB_20120810.PutItem": 1}}
	is.Equal(r.Other(), 1) // only the run log's PutItem is unnamed
}

func TestVerdict(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	j := &Job{Out: &out}
	is.NoErr(j.verdict("A", nil, "enabled, rate(1 hour)"))
	is.Equal(out.String(), "   PASS  enabled, rate(1 hour)\n")

	out.Reset()
	err := j.verdict("B", []string{"checked 1, want 2", "no run_id"}, "checked 2")
	is.Equal(err.Error(), "scenario B failed: checked 1, want 2; no run_id") // every problem, named by scenario
	is.Equal(out.String(), "   FAIL  checked 1, want 2\n   FAIL  no run_id\n")
}

func TestReportLines(t *testing.T) {
	is := is.New(t)
	is.Equal(Deployed(&deploy.StackResult{Created: 15}), "15 resources created, 0 updated")
	is.Equal(Deployed(&deploy.StackResult{Created: 12, Updated: 1, Skipped: 2}), "12 resources created, 1 updated, 2 skipped (see the notes)")

	var out bytes.Buffer
	PrintOutputs(&out, map[string]string{"TableName": "s-audit", "FunctionName": "s-check"})
	is.Equal(out.String(), "          Outputs:\n            FunctionName         s-check\n            TableName            s-audit\n") // sorted by name

	is.Equal(Round(1234567*time.Nanosecond), 1230*time.Microsecond) // short: to 10 µs
	is.Equal(Round(12345678*time.Nanosecond), 12*ms)                // long: to the millisecond
	is.Equal(Took(12345678*time.Nanosecond), "  [12ms]")
}
