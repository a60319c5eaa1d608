package cycle

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
)

// Deployed says how many resources a deploy created, updated and skipped.
func Deployed(s *deploy.StackResult) string {
	out := fmt.Sprintf("%d resources created, %d updated", s.Created, s.Updated)
	if s.Skipped > 0 {
		out += fmt.Sprintf(", %d skipped (see the notes)", s.Skipped)
	}
	return out
}

// PrintOutputs lists a stack's outputs by name.
func PrintOutputs(w io.Writer, outputs map[string]string) {
	fmt.Fprintln(w, "          Outputs:")
	names := make([]string, 0, len(outputs))
	for name := range outputs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "            %-20s %s\n", name, outputs[name])
	}
}

// Took renders a phase's duration at the end of its line.
func Took(d time.Duration) string { return "  [" + Round(d).String() + "]" }

// Round rounds a duration for the report: to the millisecond above 10 ms,
// to 10 µs below.
func Round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

// deref is the value of an optional age, or -1.
func deref(n *int) int {
	if n == nil {
		return -1
	}
	return *n
}
