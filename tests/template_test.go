package tests

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/sam"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

// sub is the long form of !Sub.
func sub(s string) map[string]any { return map[string]any{"Fn::Sub": s} }

func ref(s string) map[string]any { return map[string]any{"Ref": s} }

func getAtt(id, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, attr}} }

// The template states the contract of the design card and issue: names from
// the stack name, the function's runtime and least privilege, the schedule,
// the table's keys, index, TTL and protection, the seeded secrets, outputs.
func TestTemplateContract(t *testing.T) {
	is := is.New(t)
	tmpl := env.tmpl
	is.Equal(tmpl.Transforms, []string{"AWS::Serverless-2016-10-31"})

	is.Equal(*tmpl.Parameters["ScheduleExpression"].Default, "rate(1 hour)")
	is.Equal(*tmpl.Parameters["MaxAgeDays"].Default, "30")
	is.Equal(*tmpl.Parameters["RetentionDays"].Default, "400")
	is.Equal(tmpl.Parameters["SeedTestSecrets"].AllowedValues, []string{"true", "false"})

	fn := tmpl.Resources["RotationCheckFunction"]
	is.Equal(fn.Type, "AWS::Serverless::Function")
	p := fn.Properties
	is.Equal(p["FunctionName"], sub("${AWS::StackName}-check"))
	is.Equal(p["Runtime"], "provided.al2023")
	is.Equal(p["Architectures"], []any{"arm64"})
	is.Equal(p["Handler"], "bootstrap")
	is.Equal(fn.Metadata["BuildMethod"], "makefile") // go.mod is at the root (README: "Deploying to AWS")
	is.Equal(p["LoggingConfig"], map[string]any{"LogFormat": "JSON"})
	// The measured worst case for 50,000 secrets (make bench-latency): 100 s
	// and 18 MB. The timeout covers it with room for throttling, the memory
	// several times over.
	is.True(p["Timeout"].(int64) >= 3*100)
	is.True(p["MemorySize"].(int64) >= 4*18)
	vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	is.Equal(vars["TABLE_NAME"], ref("AuditTable"))
	is.Equal(vars["RUNS_TABLE_NAME"], ref("RunsTable"))
	is.Equal(vars["MAX_AGE_DAYS"], ref("MaxAgeDays"))
	is.Equal(vars["RETENTION_DAYS"], ref("RetentionDays"))
	is.Equal(vars["TAG_KEY"], "Managed")
	is.Equal(vars["TAG_VALUE"], "true")
	is.Equal(vars["AWS_ENDPOINT_URL"], "") // declared, so sam local invoke can set it

	// Least privilege: list secrets (no resource-level permission exists),
	// read version dates only of the audited secrets, write rows to this
	// table only; never read a secret value.
	var actions []string
	for _, pol := range p["Policies"].([]any) {
		if _, conditional := pol.(map[string]any)["Fn::If"]; conditional {
			continue // Security Hub, opt-in: TestTemplateSecurityHubIsOptIn
		}
		for _, st := range pol.(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			is.Equal(s["Effect"], "Allow")
			for _, a := range asList(s["Action"]) {
				actions = append(actions, a)
				is.True(!strings.Contains(a, "*")) // no wildcard actions
				switch {
				case a == "dynamodb:BatchWriteItem":
					is.Equal(s["Resource"], getAtt("AuditTable", "Arn")) // rows only to the audit table
				case a == "dynamodb:PutItem":
					is.Equal(s["Resource"], getAtt("RunsTable", "Arn")) // one entry per run only to the run log
				case a == "dynamodb:Query":
					is.Equal(s["Resource"], []any{ // the previous complete run, and its rows: two indexes, nothing else
						sub("${RunsTable.Arn}/index/" + tables.CompleteIndex),
						sub("${AuditTable.Arn}/index/" + tables.RunIndex),
					})
				case a == "secretsmanager:ListSecretVersionIds":
					is.Equal(s["Condition"], map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/Managed": "true"}}) // only on audited secrets
				}
			}
		}
	}
	slices.Sort(actions)
	is.Equal(actions, []string{"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query",
		"secretsmanager:ListSecretVersionIds", "secretsmanager:ListSecrets"}) // never GetSecretValue
	is.Equal(vars["STACK_NAME"], ref("AWS::StackName")) // the metrics' dimension
	is.Equal(vars["UNUSED_DAYS"], ref("UnusedDays"))

	// A failed run is retried twice by Lambda, then lands in the dead-letter queue.
	eic := p["EventInvokeConfig"].(map[string]any)
	is.Equal(eic["MaximumRetryAttempts"], int64(2))
	is.Equal(eic["DestinationConfig"], map[string]any{"OnFailure": map[string]any{"Type": "SQS", "Destination": getAtt("DeadLetterQueue", "Arn")}})

	// One topic for the three alarms, with an optional email subscription.
	topic := tmpl.Resources["AlarmTopic"]
	is.Equal(topic.Type, "AWS::SNS::Topic")
	is.Equal(tmpl.Conditions["HasAlarmEmail"], map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("AlarmEmail"), ""}}}})
	is.Equal(*tmpl.Parameters["AlarmEmail"].Default, "")
	alarm := func(id string) map[string]any {
		a := tmpl.Resources[id]
		is.Equal(a.Type, "AWS::CloudWatch::Alarm")
		is.Equal(a.Properties["AlarmActions"], []any{ref("AlarmTopic")}) // every alarm reaches the topic
		return a.Properties
	}
	flagged := alarm("FlaggedAlarm")
	is.Equal(flagged["MetricName"], "NewlyFlagged") // news: secrets flagged since the previous run
	is.Equal(flagged["ComparisonOperator"], "GreaterThanThreshold")
	is.Equal(flagged["Threshold"], int64(0))
	is.Equal(flagged["Period"], int64(60))                // one run a period...
	is.Equal(flagged["TreatMissingData"], "notBreaching") // ...back to OK without one, so the next news notifies again
	is.Equal(flagged["OKActions"], nil)                   // "no news" is no notification
	noRun := alarm("NoRunAlarm")
	is.Equal(noRun["MetricName"], "RunsCompleted") // no completed run...
	is.Equal(noRun["EvaluationPeriods"], int64(2)) // ...for two periods...
	is.Equal(noRun["Period"], ref("RunPeriodSeconds"))
	is.Equal(noRun["TreatMissingData"], "breaching") // ...a missing run counts
	dlq := alarm("DeadLetterAlarm")
	is.Equal(dlq["MetricName"], "ApproximateNumberOfMessagesVisible") // the dead-letter queue is not empty
	is.Equal(dlq["Dimensions"], []any{map[string]any{"Name": "QueueName", "Value": getAtt("DeadLetterQueue", "QueueName")}})
	for _, a := range []map[string]any{flagged, noRun} {
		is.Equal(a["Namespace"], "RotationAudit") // the function's own metrics, per stack
		is.Equal(a["Dimensions"], []any{map[string]any{"Name": "Stack", "Value": ref("AWS::StackName")}})
	}

	ev := p["Events"].(map[string]any)["Hourly"].(map[string]any)
	is.Equal(ev["Type"], "ScheduleV2")
	e := ev["Properties"].(map[string]any)
	is.Equal(e["ScheduleExpression"], ref("ScheduleExpression"))
	is.Equal(e["ScheduleExpressionTimezone"], ref("ScheduleTimezone"))
	is.Equal(*tmpl.Parameters["ScheduleTimezone"].Default, "UTC")
	is.Equal(e["FlexibleTimeWindow"], map[string]any{"Mode": "OFF"})
	is.Equal(vars["FLEXIBLE_WINDOW_MINUTES"], "0") // the function knows the window is OFF
	is.Equal(e["Name"], sub("${AWS::StackName}-hourly"))
	is.Equal(e["DeadLetterConfig"], map[string]any{"Arn": getAtt("DeadLetterQueue", "Arn")})
	retry := e["RetryPolicy"].(map[string]any)
	is.True(retry["MaximumRetryAttempts"] != nil && retry["MaximumEventAgeInSeconds"] != nil)
	var input map[string]string
	is.NoErr(json.Unmarshal([]byte(e["Input"].(string)), &input))
	is.Equal(input["scheduled_time"], "<aws.scheduler.scheduled-time>")

	table := tmpl.Resources["AuditTable"]
	is.Equal(table.Type, "AWS::DynamoDB::Table")
	tp := table.Properties
	is.Equal([]string{tables.SecretName, tables.RunID}, []string{"secret_name", "run_id"}) // the tutorial's key
	is.Equal(tp["TableName"], sub("${AWS::StackName}"+tables.AuditSuffix))
	is.Equal(tp["BillingMode"], "PAY_PER_REQUEST")
	is.Equal(tp["KeySchema"], []any{
		map[string]any{"AttributeName": tables.SecretName, "KeyType": "HASH"},
		map[string]any{"AttributeName": tables.RunID, "KeyType": "RANGE"},
	})
	gsi := tp["GlobalSecondaryIndexes"].([]any)[0].(map[string]any)
	is.Equal(gsi["IndexName"], tables.RunIndex)
	is.Equal(gsi["KeySchema"].([]any)[0], map[string]any{"AttributeName": tables.RunID, "KeyType": "HASH"}) // one run = one Query
	byChange := tp["GlobalSecondaryIndexes"].([]any)[1].(map[string]any)
	is.Equal(byChange["IndexName"], tables.ChangeIndex)
	is.Equal(byChange["KeySchema"], []any{ // a period's changes: a Query per month, on a run_id range
		map[string]any{"AttributeName": tables.ChangeMonth, "KeyType": "HASH"},
		map[string]any{"AttributeName": tables.RunID, "KeyType": "RANGE"},
	})
	is.Equal(byChange["Projection"], map[string]any{"ProjectionType": "ALL"})
	is.True(slices.ContainsFunc(tp["AttributeDefinitions"].([]any), func(d any) bool {
		return d.(map[string]any)["AttributeName"] == tables.ChangeMonth && d.(map[string]any)["AttributeType"] == "S"
	})) // the index's key is a string
	is.Equal(tp["TimeToLiveSpecification"], map[string]any{"AttributeName": "expires_at", "Enabled": true})
	is.Equal(tp["SSESpecification"], map[string]any{"SSEEnabled": true})
	is.Equal(tp["PointInTimeRecoverySpecification"], map[string]any{"PointInTimeRecoveryEnabled": true})

	for id, want := range map[string][]string{
		"FreshSecret": {"${AWS::StackName}-fresh", "true"}, "StaleSecret": {"${AWS::StackName}-stale", "true"},
		"IgnoredSecret": {"${AWS::StackName}-ignored", "false"},
	} {
		s := tmpl.Resources[id]
		is.Equal(s.Type, "AWS::SecretsManager::Secret")
		is.Equal(s.Condition, "SeedSecrets") // only with SeedTestSecrets=true
		is.Equal(s.Properties["Name"], sub(want[0]))
		is.Equal(s.Properties["Tags"], []any{map[string]any{"Key": "Managed", "Value": want[1]}})
		is.True(s.Properties["GenerateSecretString"] != nil) // no value in the template
	}

	var outputs []string
	for name, o := range tmpl.Outputs {
		if o.Condition == "OrganizationMode" {
			continue // organization mode's, absent from the tutorial's stack
		}
		outputs = append(outputs, name)
	}
	slices.Sort(outputs)
	is.Equal(outputs, []string{"AlarmTopicArn", "FreshSecretName", "FunctionName", "IgnoredSecretName", "RunsTableName", "ScheduleExpression",
		"ScheduleName", "StaleSecretName", "TableName"})

	// The run log: the latest complete run is one Query (the sparse
	// index), a period one Query per month (the month partition).
	runs := tmpl.Resources["RunsTable"].Properties
	is.Equal(runs["TableName"], sub("${AWS::StackName}"+tables.RunsSuffix))
	is.Equal(runs["KeySchema"], []any{
		map[string]any{"AttributeName": tables.Month, "KeyType": "HASH"},
		map[string]any{"AttributeName": tables.RunID, "KeyType": "RANGE"},
	})
	byCompletion := runs["GlobalSecondaryIndexes"].([]any)[0].(map[string]any)
	is.Equal(byCompletion["IndexName"], tables.CompleteIndex)
	is.Equal(byCompletion["KeySchema"], []any{
		map[string]any{"AttributeName": tables.CompleteKey, "KeyType": "HASH"},
		map[string]any{"AttributeName": tables.RunID, "KeyType": "RANGE"},
	})
	is.Equal(runs["TimeToLiveSpecification"], map[string]any{"AttributeName": "expires_at", "Enabled": true})
}

// The deployed policies, after the SAM transform, grant no GetSecretValue and
// no DynamoDB wildcard anywhere.
func TestTemplatePoliciesAfterTransform(t *testing.T) {
	is := is.New(t)
	tt, err := sam.Transform(env.tmpl)
	is.NoErr(err)
	raw, err := json.Marshal(tt.Resources)
	is.NoErr(err)
	doc := string(raw)
	is.True(!strings.Contains(doc, "GetSecretValue"))
	is.True(!strings.Contains(doc, `"dynamodb:*"`))
	for id, r := range tt.Resources {
		if r.Type != "AWS::IAM::Role" {
			continue
		}
		for _, pol := range asAny(r.Properties["Policies"]) {
			if branches, conditional := pol.(map[string]any)["Fn::If"].([]any); conditional {
				pol = branches[1] // the policy a condition adds (its other branch is AWS::NoValue)
			}
			for _, st := range asAny(pol.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"]) {
				s := st.(map[string]any)
				for _, a := range asList(s["Action"]) {
					if strings.HasPrefix(a, "dynamodb:") && s["Resource"] == "*" {
						t.Errorf("%s allows %s on every resource", id, a)
					}
				}
			}
		}
	}
}

// events/schedule.json is exactly what the schedule's Input becomes when the
// scheduler fills in its context attributes.
func TestScheduleEventMatchesTemplateInput(t *testing.T) {
	is := is.New(t)
	data, err := os.ReadFile("../events/schedule.json")
	is.NoErr(err)
	var event map[string]string
	is.NoErr(json.Unmarshal(data, &event))
	hourly := env.tmpl.Resources["RotationCheckFunction"].Properties["Events"].(map[string]any)["Hourly"]
	input := hourly.(map[string]any)["Properties"].(map[string]any)["Input"].(string)

	at, err := time.Parse(time.RFC3339, event["scheduled_time"])
	is.NoErr(err)
	attempt, err := strconv.Atoi(event["attempt_number"])
	is.NoErr(err)
	filled := schedule.FillInput(input, schedule.ContextAttributes{
		ScheduledTime: at, ExecutionID: event["execution_id"], AttemptNumber: attempt, ScheduleARN: event["schedule_arn"],
	})
	var fromTemplate map[string]string
	is.NoErr(json.Unmarshal([]byte(filled), &fromTemplate))
	is.Equal(fromTemplate, event) // the fixture is the template's Input, filled in
}

func asList(v any) []string {
	var out []string
	for _, x := range asAny(v) {
		out = append(out, x.(string))
	}
	return out
}

func asAny(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}
