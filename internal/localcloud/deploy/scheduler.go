package deploy

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/rotation-audit/rotation-audit/internal/schedexpr"
)

func deploySchedule(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	s := d.Clients.Scheduler
	expr := str(p, "ScheduleExpression")
	if err := schedexpr.Check(expr, str(p, "ScheduleExpressionTimezone")); err != nil {
		return err
	}
	var target schtypes.Target
	if err := convert(p["Target"], &target); err != nil {
		return fmt.Errorf("property Target: %w", err)
	}
	var window schtypes.FlexibleTimeWindow
	if err := convert(p["FlexibleTimeWindow"], &window); err != nil {
		return fmt.Errorf("property FlexibleTimeWindow: %w", err)
	}
	start, err := timeOf(p["StartDate"])
	if err != nil {
		return fmt.Errorf("property StartDate: %w", err)
	}
	end, err := timeOf(p["EndDate"])
	if err != nil {
		return fmt.Errorf("property EndDate: %w", err)
	}
	group := optString(p["GroupName"])
	_, err = s.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: &r.Name, GroupName: group})
	switch {
	case err == nil:
		r.Updated = true
		_, err = s.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
			Name: &r.Name, GroupName: group, ScheduleExpression: &expr, Target: &target,
			FlexibleTimeWindow: &window, ScheduleExpressionTimezone: optString(p["ScheduleExpressionTimezone"]),
			State: schtypes.ScheduleState(str(p, "State")), Description: optString(p["Description"]),
			StartDate: start, EndDate: end, KmsKeyArn: optString(p["KmsKeyArn"]),
		})
	case isNotFound(err):
		_, err = s.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
			Name: &r.Name, GroupName: group, ScheduleExpression: &expr, Target: &target,
			FlexibleTimeWindow: &window, ScheduleExpressionTimezone: optString(p["ScheduleExpressionTimezone"]),
			State: schtypes.ScheduleState(str(p, "State")), Description: optString(p["Description"]),
			StartDate: start, EndDate: end, KmsKeyArn: optString(p["KmsKeyArn"]),
		})
	}
	if err != nil {
		return fmt.Errorf("put schedule: %w", err)
	}
	got, err := s.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: &r.Name, GroupName: group})
	if err != nil {
		return fmt.Errorf("get schedule: %w", err)
	}
	r.Group = aws.ToString(group)
	r.ref = r.Name
	r.attrs = map[string]string{"Arn": aws.ToString(got.Arn)}
	return nil
}

func removeSchedule(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Scheduler.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: &r.Name, GroupName: optString(nonEmpty(r.Group))})
	return gone(err)
}

func scheduleExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Scheduler.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: &r.Name, GroupName: optString(nonEmpty(r.Group))})
	return found(err)
}
