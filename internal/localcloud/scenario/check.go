package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// The checks below state the tutorial's expectations for the seeded stack;
// each returns what does not hold, empty when all is well.

// CheckScheduleConfig expects an enabled schedule with the stack's
// expression that targets the function through a role, with the
// scheduled-time placeholder in its Input (scenario A).
func CheckScheduleConfig(s Stack, functionARN string, got *scheduler.GetScheduleOutput) []string {
	var bad []string
	if got.State != schtypes.ScheduleStateEnabled {
		bad = append(bad, fmt.Sprintf("State is %q, want ENABLED", got.State))
	}
	if aws.ToString(got.ScheduleExpression) != s.ScheduleExpression {
		bad = append(bad, fmt.Sprintf("ScheduleExpression is %q, want %q", aws.ToString(got.ScheduleExpression), s.ScheduleExpression))
	}
	if got.Target == nil {
		return append(bad, "the schedule has no Target")
	}
	if aws.ToString(got.Target.Arn) != functionARN {
		bad = append(bad, fmt.Sprintf("Target.Arn is %q, want %q", aws.ToString(got.Target.Arn), functionARN))
	}
	if !strings.Contains(aws.ToString(got.Target.RoleArn), ":role/") {
		bad = append(bad, fmt.Sprintf("Target.RoleArn %q is not a role ARN", aws.ToString(got.Target.RoleArn)))
	}
	if !strings.Contains(aws.ToString(got.Target.Input), "<aws.scheduler.scheduled-time>") {
		bad = append(bad, "Target.Input does not carry <aws.scheduler.scheduled-time>")
	}
	return bad
}

// CheckInvocation expects the run ID derived from the scheduled time, a run
// that no row had before, and every managed seeded secret checked: 2, since
// the third seeded secret is Managed=false, or 0 on a stack deployed
// without test secrets (scenario B).
func CheckInvocation(s Stack, inv *Invocation, rowsBefore int) []string {
	var bad []string
	if want := audit.RunID(audit.Event{ScheduledTime: inv.ScheduledTime}, time.Time{}); inv.Result.RunID != want {
		bad = append(bad, fmt.Sprintf("run_id is %q, want %q (from scheduled_time)", inv.Result.RunID, want))
	}
	if rowsBefore != 0 {
		bad = append(bad, fmt.Sprintf("run_id %s is not fresh: %d rows had it before", inv.Result.RunID, rowsBefore))
	}
	if want := len(s.Managed()); inv.Result.Checked != want {
		bad = append(bad, fmt.Sprintf("checked is %d, want %d", inv.Result.Checked, want))
	}
	return bad
}

// CheckRunRows expects exactly the managed seeded secrets' rows for the
// run, with an RFC 3339 UTC checked_at, and no row for the ignored secret
// (scenario C).
func CheckRunRows(s Stack, runID string, rows []audit.Record, ignored *audit.Record) []string {
	var bad []string
	var names []string
	for _, r := range rows {
		names = append(names, r.SecretName)
		if r.RunID != runID {
			bad = append(bad, fmt.Sprintf("row %s has run_id %q, want %q", r.SecretName, r.RunID, runID))
		}
		t, err := time.Parse(time.RFC3339, r.CheckedAt)
		if err != nil || t.Location() != time.UTC || !strings.HasSuffix(r.CheckedAt, "Z") {
			bad = append(bad, fmt.Sprintf("row %s has checked_at %q, want RFC 3339 in UTC", r.SecretName, r.CheckedAt))
		}
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(s.Managed()))
	if !slices.Equal(names, want) {
		bad = append(bad, fmt.Sprintf("rows are for %v, want exactly %v", names, want))
	}
	if ignored != nil {
		bad = append(bad, fmt.Sprintf("%s (Managed=false) has a row", s.Ignored))
	}
	return bad
}
