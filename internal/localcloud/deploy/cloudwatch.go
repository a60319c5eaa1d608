package deploy

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

// alarmScalars are the alarm properties that pass through as they are.
var alarmScalars = []string{"AlarmDescription", "Namespace", "MetricName", "Statistic", "ExtendedStatistic",
	"ComparisonOperator", "TreatMissingData", "Unit", "EvaluateLowSampleCountPercentile"}

func deployAlarm(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	in := &cloudwatch.PutMetricAlarmInput{AlarmName: &r.Name}
	raw := map[string]any{}
	for _, key := range alarmScalars {
		if v, ok := p[key]; ok {
			raw[key] = cfn.String(v)
		}
	}
	for _, key := range []string{"Dimensions", "AlarmActions", "OKActions", "InsufficientDataActions"} {
		if v, ok := p[key]; ok {
			raw[key] = v
		}
	}
	if err := convert(raw, in); err != nil {
		return fmt.Errorf("alarm properties: %w", err)
	}
	var err error
	for key, dst := range map[string]**int32{"Period": &in.Period, "EvaluationPeriods": &in.EvaluationPeriods, "DatapointsToAlarm": &in.DatapointsToAlarm} {
		if *dst, err = int32Of(p[key]); err != nil {
			return fmt.Errorf("property %s: %w", key, err)
		}
	}
	if v, ok := p["Threshold"]; ok {
		f, err := strconv.ParseFloat(cfn.String(v), 64)
		if err != nil {
			return fmt.Errorf("property Threshold: %v is not a number", v)
		}
		in.Threshold = &f
	}
	in.ActionsEnabled = boolOf(p["ActionsEnabled"])
	there, err := alarmExists(ctx, d.Clients, *r)
	if err != nil {
		return err
	}
	r.Updated = there
	r.ref = r.Name
	_, err = d.Clients.CloudWatch.PutMetricAlarm(ctx, in)
	switch {
	case isUnsupported(err):
		r.note("%s: the endpoint does not answer CloudWatch in the SDK's protocol (RPC v2 CBOR); alarm not created", r.LogicalID)
		r.attrs, r.Skipped = map[string]string{}, true
		return nil
	case err != nil:
		return fmt.Errorf("put alarm: %w", err)
	}
	out, err := d.Clients.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{r.Name}})
	if err != nil || len(out.MetricAlarms) == 0 {
		return fmt.Errorf("read alarm back: %v", err)
	}
	if d.Embedded {
		r.note("%s: stored; the embedded cloud has no metrics, so it never evaluates alarms", r.LogicalID)
	}
	r.attrs = map[string]string{"Arn": aws.ToString(out.MetricAlarms[0].AlarmArn)}
	return nil
}

func removeAlarm(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	there, err := alarmExists(ctx, c, r)
	if err != nil || !there {
		return false, err
	}
	_, err = c.CloudWatch.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{r.Name}})
	return gone(err)
}

func alarmExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	out, err := c.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: []string{r.Name}, AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm},
	})
	switch {
	case isUnsupported(err):
		return false, nil // an endpoint without CloudWatch has no alarm
	case err != nil:
		return false, fmt.Errorf("describe alarm: %w", err)
	}
	return len(out.MetricAlarms) > 0, nil
}
