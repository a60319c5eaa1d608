// Package scenario holds the checks of a deployed stack, labelled A, B, C
// and D in the output: the schedule's configuration, an invocation made the
// way the scheduler makes it, the audit rows that run wrote (the tutorial's
// three), and the age of the value a month later, when a tag edit must not
// hide an old password. The local cloud command prints them and the
// scenario tests assert them.
//
// It takes the SDK clients through tiny interfaces with the SDK's own
// method signatures, so any endpoint's clients, or fakes, fit, and imports
// the product's row shapes and table contract (packages audit and tables)
// and the scheduler's input filling (package schedule).
package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/google/uuid"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

// ScheduleGetter is the part of the Scheduler client the checks use.
type ScheduleGetter interface {
	GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
}

// Invoker is the part of the Lambda client the checks use.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var (
	_ ScheduleGetter          = (*scheduler.Client)(nil)
	_ Invoker                 = (*lambda.Client)(nil)
	_ dynamodb.QueryAPIClient = (*dynamodb.Client)(nil)
)

// Stack names what the scenarios look at, from a deployed stack's outputs.
type Stack struct {
	Function, Schedule, ScheduleExpression, Table string
	// Fresh, Stale and Ignored are the seeded test secrets; empty when the
	// stack was deployed with SeedTestSecrets=false.
	Fresh, Stale, Ignored string
}

// FromOutputs reads a Stack from template.yaml's outputs.
func FromOutputs(out map[string]string) (Stack, error) {
	s := Stack{
		Function: out["FunctionName"], Schedule: out["ScheduleName"], ScheduleExpression: out["ScheduleExpression"],
		Table: out["TableName"], Fresh: out["FreshSecretName"], Stale: out["StaleSecretName"], Ignored: out["IgnoredSecretName"],
	}
	if s.Function == "" || s.Schedule == "" || s.Table == "" {
		return Stack{}, errors.New("the stack's outputs lack FunctionName, ScheduleName or TableName")
	}
	return s, nil
}

// Seeded reports whether the stack has its test secrets.
func (s Stack) Seeded() bool { return s.Fresh != "" }

// Managed lists the seeded secrets the check must audit: the two tagged
// Managed=true, or none on a stack without test secrets.
func (s Stack) Managed() []string {
	if !s.Seeded() {
		return nil
	}
	return []string{s.Fresh, s.Stale}
}

// ScheduleConfig fetches the schedule, as `aws scheduler get-schedule
// --name` does (scenario A).
func ScheduleConfig(ctx context.Context, c ScheduleGetter, s Stack) (*scheduler.GetScheduleOutput, error) {
	out, err := c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(s.Schedule)})
	if err != nil {
		return nil, fmt.Errorf("get schedule %s: %w", s.Schedule, err)
	}
	return out, nil
}

// Invocation is what InvokeAsScheduler did and got back.
type Invocation struct {
	ScheduledTime time.Time
	Payload       string
	Result        audit.Result
}

// ScheduledTimeAt is the scheduled time of a fire at now: the first whole
// second at or after it, since the scheduler's times have no fractions and
// a fire is never judged before the moment it was asked for.
func ScheduledTimeAt(now time.Time) time.Time {
	t := now.UTC().Truncate(time.Second)
	if t.Before(now) {
		t = t.Add(time.Second)
	}
	return t
}

// InvokeAsScheduler invokes the schedule's target the way EventBridge
// Scheduler does, with the schedule's Input and its context attributes
// filled in for a fire at now (ScheduledTimeAt), but synchronously, so the
// result can be read (scenario B).
func InvokeAsScheduler(ctx context.Context, c Invoker, sched *scheduler.GetScheduleOutput, now time.Time) (*Invocation, error) {
	if sched.Target == nil || sched.Target.Arn == nil {
		return nil, errors.New("the schedule has no target")
	}
	inv := &Invocation{ScheduledTime: ScheduledTimeAt(now)}
	input := aws.ToString(sched.Target.Input)
	if input == "" {
		input = "{}"
	}
	inv.Payload = schedule.FillInput(input, schedule.ContextAttributes{
		ScheduledTime: inv.ScheduledTime, ExecutionID: uuid.NewString(), AttemptNumber: 1, ScheduleARN: aws.ToString(sched.Arn),
	})
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: sched.Target.Arn, Payload: []byte(inv.Payload)})
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", aws.ToString(sched.Target.Arn), err)
	}
	if out.FunctionError != nil {
		return nil, fmt.Errorf("invoke %s: the function failed: %s", aws.ToString(sched.Target.Arn), out.Payload)
	}
	if err := json.Unmarshal(out.Payload, &inv.Result); err != nil {
		return nil, fmt.Errorf("invoke %s: unexpected result %q: %w", aws.ToString(sched.Target.Arn), out.Payload, err)
	}
	return inv, nil
}

// RunRows returns the audit rows of one run: a Query on the run index,
// keyed on run_id alone, never a key attribute in a FilterExpression
// (scenario C).
func RunRows(ctx context.Context, c dynamodb.QueryAPIClient, s Stack, runID string) ([]audit.Record, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("run_id").Equal(expression.Value(runID))).Build()
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	pages := dynamodb.NewQueryPaginator(c, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String(tables.RunIndex),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	var rows []audit.Record
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s for %s: %w", s.Table, runID, err)
		}
		var recs []audit.Record
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &recs); err != nil {
			return nil, fmt.Errorf("read audit rows: %w", err)
		}
		rows = append(rows, recs...)
	}
	return rows, nil
}

// Row fetches one secret's row of one run, with both key attributes in the
// key condition; nil if there is none.
func Row(ctx context.Context, c dynamodb.QueryAPIClient, s Stack, secret, runID string) (*audit.Record, error) {
	key := expression.Key("secret_name").Equal(expression.Value(secret)).
		And(expression.Key("run_id").Equal(expression.Value(runID)))
	expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	out, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		return nil, fmt.Errorf("query %s for %s: %w", s.Table, secret, err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	var rec audit.Record
	if err := attributevalue.UnmarshalMap(out.Items[0], &rec); err != nil {
		return nil, fmt.Errorf("read audit row: %w", err)
	}
	return &rec, nil
}
