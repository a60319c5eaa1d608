package localcloud

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/matryer/is"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

// A schedule's CreationDate and LastModificationDate are on cloud time,
// as a reader taking the control's start from them needs; kumo stamps
// them with the machine's clock, months away from a cloud started on 29
// September.
func TestScheduleDatesAreOnCloudTime(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	start := time.Date(2026, 9, 29, 0, 0, 0, 0, time.UTC)
	c, err := Start(Options{ClockStart: start})
	is.NoErr(err)
	t.Cleanup(func() { c.Close() })
	s := clients(c).Scheduler
	target := &schtypes.Target{Arn: aws.String("arn:aws:sqs:us-east-1:000000000000:nowhere"), RoleArn: aws.String("arn:aws:iam::000000000000:role/r")}
	off := &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff}
	_, err = s.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("dated"), ScheduleExpression: aws.String("rate(1 hour)"),
		FlexibleTimeWindow: off, Target: target})
	is.NoErr(err)
	t.Cleanup(func() {
		_, _ = s.DeleteSchedule(context.Background(), &scheduler.DeleteScheduleInput{Name: aws.String("dated")})
	})
	near := func(got *time.Time, want time.Time) bool { return got != nil && got.Sub(want).Abs() < 5*time.Second }

	got, err := s.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("dated")})
	is.NoErr(err)
	is.True(near(got.CreationDate, start)) // the cloud's time, not the machine's
	is.True(near(got.LastModificationDate, start))

	later := start.Add(96 * time.Hour)
	_, err = c.Scheduler().Jump(ctx, schedule.At(later))
	is.NoErr(err)
	_, err = s.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{Name: aws.String("dated"), ScheduleExpression: aws.String("rate(1 hour)"),
		FlexibleTimeWindow: off, Target: target, State: schtypes.ScheduleStateDisabled})
	is.NoErr(err)
	got, err = s.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("dated")})
	is.NoErr(err)
	is.True(near(got.CreationDate, start)) // an update does not create it again
	is.True(near(got.LastModificationDate, later))
	is.Equal(got.State, schtypes.ScheduleStateDisabled) // the rest of the answer is kumo's
}
