package tests

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
)

// Scenario A: the schedule exists as the template declares it: enabled,
// rate(1 hour), targeting the function through its role, with an Input that
// carries the scheduled time.
func TestScenarioA_ScheduleConfiguration(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	stack, s := deployed(t)

	got, err := scenario.ScheduleConfig(ctx, env.clients.Scheduler, s)
	is.NoErr(err)
	is.Equal(aws.ToString(got.Name), "rotcheck-hourly")
	is.Equal(string(got.State), "ENABLED")
	is.Equal(aws.ToString(got.ScheduleExpression), "rate(1 hour)")
	is.Equal(aws.ToString(got.ScheduleExpressionTimezone), "UTC")
	is.Equal(string(got.FlexibleTimeWindow.Mode), "OFF")

	fn, err := env.clients.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("rotcheck-check")})
	is.NoErr(err)
	is.Equal(aws.ToString(got.Target.Arn), aws.ToString(fn.Configuration.FunctionArn)) // the schedule targets the function
	role, err := env.clients.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("rotcheck-RotationCheckFunctionHourlyRole")})
	is.NoErr(err)
	is.Equal(aws.ToString(got.Target.RoleArn), aws.ToString(role.Role.Arn)) // through the role SAM generates for it

	var input map[string]string
	is.NoErr(json.Unmarshal([]byte(aws.ToString(got.Target.Input)), &input)) // Input is a JSON object
	is.Equal(input["source"], "eventbridge-scheduler")
	is.Equal(input["scheduled_time"], "<aws.scheduler.scheduled-time>") // filled in by the scheduler at each fire

	is.Equal(aws.ToInt32(got.Target.RetryPolicy.MaximumRetryAttempts), int32(3))
	is.Equal(aws.ToString(got.Target.DeadLetterConfig.Arn), arnOf(t, stack, "DeadLetterQueue"))
	is.Equal(scenario.CheckScheduleConfig(s, aws.ToString(fn.Configuration.FunctionArn), got), []string(nil)) // what `make local` prints agrees
}

// Scenario B: invoking the function the way the scheduler does checks the
// two Managed=true secrets (the third is Managed=false) under a fresh run ID
// derived from the scheduled time.
func TestScenarioB_InvokeAsScheduler(t *testing.T) {
	needsInvoke(t)
	is := is.New(t)
	ctx := context.Background()
	_, s := deployed(t)
	sched, err := scenario.ScheduleConfig(ctx, env.clients.Scheduler, s)
	is.NoErr(err)

	at := nextScheduledTime()
	wantRunID := "run-" + strconv.FormatInt(at.UnixMilli(), 10)
	before, err := scenario.RunRows(ctx, env.clients.DynamoDB, s, wantRunID)
	is.NoErr(err)
	is.Equal(len(before), 0) // the run ID is fresh

	inv, err := scenario.InvokeAsScheduler(ctx, env.clients.Lambda, sched, at)
	is.NoErr(err)
	is.True(strings.Contains(inv.Payload, `"scheduled_time":"`+at.Format(time.RFC3339)+`"`)) // the context attribute was filled in
	is.Equal(inv.Result.RunID, wantRunID)
	is.Equal(inv.Result.Checked, 2)
	is.Equal(inv.Result.Flagged, 0) // both seeded secrets were just created
	is.Equal(inv.Result.Written, 2)
}

// Scenario C: the run wrote exactly one row per managed secret, found with
// a Query keyed on run_id, and none for the Managed=false secret.
func TestScenarioC_NewAuditRows(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	_, s := deployed(t)
	runID := aRun(t, s)

	rows, err := scenario.RunRows(ctx, env.clients.DynamoDB, s, runID)
	is.NoErr(err)
	is.Equal(len(rows), 2) // exactly the new rows
	names := map[string]bool{}
	for _, r := range rows {
		names[r.SecretName] = true
		is.Equal(r.RunID, runID)
		is.Equal(r.Status, audit.StatusOK)
		checked, err := time.Parse(time.RFC3339, r.CheckedAt)
		is.NoErr(err)                                // checked_at is RFC 3339
		is.True(strings.HasSuffix(r.CheckedAt, "Z")) // in UTC
		is.Equal(r.ExpiresAt, checked.Add(400*24*time.Hour).Unix())
		is.True(strings.HasPrefix(r.SecretARN, "arn:aws:secretsmanager:"))
	}
	is.True(names["rotcheck-fresh"])
	is.True(names["rotcheck-stale"])

	ignored, err := scenario.Row(ctx, env.clients.DynamoDB, s, "rotcheck-ignored", runID)
	is.NoErr(err)
	is.True(ignored == nil) // Managed=false: no row
	fresh, err := scenario.Row(ctx, env.clients.DynamoDB, s, "rotcheck-fresh", runID)
	is.NoErr(err)
	is.True(fresh != nil) // both key attributes in the key condition find the row
}

// The handler, run in this process on the real SDK against the endpoint,
// gives the same answer as the deployed function: this is the data-plane
// check for endpoints that cannot invoke Lambda (moto).
func TestHandlerRunOnEndpoint(t *testing.T) {
	is := is.New(t)
	_, s := deployed(t)
	res := handlerRun(t, s, nextScheduledTime())
	is.Equal(res.Checked, 2)
	is.Equal(res.Written, 2)
}

// aRun makes one run and returns its ID: through Lambda where the endpoint
// can invoke, else with the handler in this process.
func aRun(t *testing.T, s scenario.Stack) string {
	t.Helper()
	at := nextScheduledTime()
	if !env.invoke {
		t.Log("the endpoint cannot invoke Lambda; running the handler in-process instead")
		return handlerRun(t, s, at).RunID
	}
	sched, err := scenario.ScheduleConfig(context.Background(), env.clients.Scheduler, s)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := scenario.InvokeAsScheduler(context.Background(), env.clients.Lambda, sched, at)
	if err != nil {
		t.Fatal(err)
	}
	return inv.Result.RunID
}

// handlerRun runs the check in this process against the endpoint.
func handlerRun(t *testing.T, s scenario.Stack, at time.Time) audit.Result {
	t.Helper()
	cfg := audit.Config{TableName: s.Table, MaxAgeDays: 30, TagKey: "Managed", TagValue: "true", RetentionDays: 400}
	c := audit.New(env.clients.SecretsManager, env.clients.DynamoDB, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	res, err := c.Run(context.Background(), audit.Event{ScheduledTime: at})
	if err != nil {
		t.Fatalf("handler run: %v", err)
	}
	return res
}

var (
	scheduleMu   sync.Mutex
	lastSchedule time.Time
)

// nextScheduledTime returns a whole-second time, on the cloud clock where
// there is one, later than any it returned before, so every test's run ID
// is its own.
func nextScheduledTime() time.Time {
	scheduleMu.Lock()
	defer scheduleMu.Unlock()
	now := time.Now()
	if env.cloud != nil {
		now = env.cloud.Scheduler().Clock().Now()
	}
	t := now.UTC().Truncate(time.Second)
	if !t.After(lastSchedule) {
		t = lastSchedule.Add(time.Second)
	}
	lastSchedule = t
	return t
}
