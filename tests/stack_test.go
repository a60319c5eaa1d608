package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
)

// Moving the cloud clock forward fires the deployed schedule by itself,
// once per hour in between: rows appear with no manual invoke, each run
// named after its own scheduled time.
func TestClockFiresFunction(t *testing.T) {
	needsEmbedded(t)
	is := is.New(t)
	ctx := context.Background()
	// A cloud of its own, so that its advance fires only its stack and its
	// function lists only its secrets. Two clouds in one process share
	// kumo's tables and functions, so the stack gets names of its own.
	cloud, err := localcloud.Start(localcloud.Options{Logs: testLogs()})
	is.NoErr(err)
	t.Cleanup(func() { cloud.Close() })
	d := deployer("clocktest", nil)
	d.Clients = deploy.NewClients(cloud.URL, localcloud.DefaultRegion)
	t.Cleanup(func() { teardownClean(t, d) }) // before the cloud closes
	stack, err := d.Deploy(ctx, env.tmpl)
	is.NoErr(err)
	s, err := scenario.FromOutputs(stack.Outputs)
	is.NoErr(err)

	from := cloud.Scheduler().Clock().Now()
	moved, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "3h"})
	is.NoErr(err)
	is.Equal(moved.Fired, 3)  // one fire per hour
	is.Equal(moved.Failed, 0) // and every run succeeded

	var runs []time.Time
	for _, r := range history(t, s, s.Fresh) {
		at, err := tables.ParseRunID(r.RunID)
		is.NoErr(err) // run-<scheduled time in Unix ms>
		runs = append(runs, at)
	}
	is.Equal(len(runs), 3) // one run per hour of the three
	for i, at := range runs {
		is.True(at.After(from) && !at.After(moved.To)) // each within the span
		if i > 0 {
			is.Equal(at.Sub(runs[i-1]), time.Hour) // an hour apart
		}
	}
}

// history is one secret's audit rows: a Query on its partition, oldest first.
func history(t *testing.T, s scenario.Stack, secret string) []audit.Record {
	t.Helper()
	out, err := env.clients.DynamoDB.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("secret_name = :s"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":s": &dbtypes.AttributeValueMemberS{Value: secret}},
	})
	check(t, err)
	var rows []audit.Record
	check(t, attributevalue.UnmarshalListOfMaps(out.Items, &rows))
	return rows
}

// A second deploy of the same stack updates it in place: nothing is
// duplicated, the generated secret values stay, the function still works.
func TestRedeployUpdatesInPlace(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	first, s := deployed(t)
	before, err := env.clients.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.Fresh)})
	is.NoErr(err)
	described, err := env.clients.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Stale)})
	is.NoErr(err)

	again, err := deployer(stackName, nil).Deploy(ctx, env.tmpl)
	is.NoErr(err)
	is.Equal(again.Created, 0)                                  // nothing new
	is.Equal(again.Updated, len(first.Resources)-first.Skipped) // everything updated in place
	is.Equal(again.Skipped, first.Skipped)                      // or skipped again, as the endpoint cannot make it
	is.Equal(again.Outputs, first.Outputs)

	after, err := env.clients.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.Fresh)})
	is.NoErr(err)
	is.Equal(aws.ToString(after.SecretString), aws.ToString(before.SecretString)) // the value was not regenerated
	redescribed, err := env.clients.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Stale)})
	is.NoErr(err)
	is.Equal(aws.ToTime(redescribed.LastChangedDate), aws.ToTime(described.LastChangedDate)) // untouched: the age the check reads stays
	is.Equal(len(namesWithPrefix(t, "rotcheck-")), named(t, first))                          // one of each, no duplicates

	if env.invoke {
		runID := aRun(t, s)
		rows, err := scenario.RunRows(ctx, env.clients.DynamoDB, s, runID)
		is.NoErr(err)
		is.Equal(len(rows), 2) // the updated function still checks the two managed secrets
	}
}

// Teardown deletes everything the deploy created and finds nothing left,
// by the deployer's own check and by listing every service; a second
// teardown finds nothing to do.
func TestTeardownLeavesNothing(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	d := deployer("teardowntest", map[string]string{"SeedTestSecrets": "true"})
	t.Cleanup(func() { _, _ = d.Teardown(context.Background(), env.tmpl) }) // if an assertion stops the test early
	stack, err := d.Deploy(ctx, env.tmpl)
	is.NoErr(err)
	is.Equal(len(namesWithPrefix(t, "teardowntest-")), named(t, stack))

	res, err := d.Teardown(ctx, env.tmpl)
	is.NoErr(err)
	is.Equal(len(res.Deleted), len(stack.Resources)-stack.Skipped)
	is.Equal(len(res.Leftovers), 0)
	is.Equal(namesWithPrefix(t, "teardowntest-"), []string(nil)) // nothing with the stack's names remains

	again, err := d.Teardown(ctx, env.tmpl)
	is.NoErr(err)
	is.Equal(len(again.Deleted), 0)                                     // nothing left to delete
	is.Equal(len(again.Absent), len(stack.Resources)+len(orgResources)) // organization mode's, never created here, are looked for too
}

// teardownClean tears a test stack down and fails the test if anything stays.
func teardownClean(t *testing.T, d *deploy.Deployer) {
	t.Helper()
	res, err := d.Teardown(context.Background(), env.tmpl)
	if err != nil {
		t.Errorf("teardown %s: %v", d.Stack, err)
		return
	}
	if len(res.Leftovers) > 0 {
		t.Errorf("teardown %s left %v", d.Stack, res.Leftovers)
	}
}

// named counts a stack's resources that have a name of their own (an
// EventInvokeConfig is its function's) and that the endpoint can list.
func named(t *testing.T, s *deploy.StackResult) int {
	n := 0
	for _, r := range s.Resources {
		switch {
		case r.Type == "AWS::Lambda::EventInvokeConfig":
		case r.Type == "AWS::CloudWatch::Alarm" && !hasCloudWatch(t):
		default:
			n++
		}
	}
	return n
}

// hasCloudWatch reports whether the endpoint answers CloudWatch in the
// SDK's protocol (RPC v2 CBOR); moto 5 does not, and the deployer skips
// alarms there with a note.
func hasCloudWatch(t *testing.T) bool {
	t.Helper()
	_, err := env.clients.CloudWatch.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{})
	if err != nil {
		t.Logf("the endpoint does not answer CloudWatch (%v): alarms are not counted", err)
	}
	return err == nil
}

// namesWithPrefix lists, service by service, every resource whose name
// starts with prefix: an independent check of what a stack has.
func namesWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	c := env.clients
	var names []string
	add := func(kind, name string) {
		if strings.HasPrefix(name, prefix) {
			names = append(names, kind+" "+name)
		}
	}
	tables, err := c.DynamoDB.ListTables(ctx, &dynamodb.ListTablesInput{})
	check(t, err)
	for _, n := range tables.TableNames {
		add("table", n)
	}
	secrets := secretsmanager.NewListSecretsPaginator(c.SecretsManager, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}},
	})
	for secrets.HasMorePages() {
		page, err := secrets.NextPage(ctx)
		check(t, err)
		for _, s := range page.SecretList {
			add("secret", aws.ToString(s.Name))
		}
	}
	queues, err := c.SQS.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(prefix)})
	check(t, err)
	for _, u := range queues.QueueUrls {
		add("queue", u[strings.LastIndex(u, "/")+1:])
	}
	roles := iam.NewListRolesPaginator(c.IAM, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		check(t, err)
		for _, r := range page.Roles {
			add("role", aws.ToString(r.RoleName))
		}
	}
	fns := lambda.NewListFunctionsPaginator(c.Lambda, &lambda.ListFunctionsInput{})
	for fns.HasMorePages() {
		page, err := fns.NextPage(ctx)
		check(t, err)
		for _, f := range page.Functions {
			add("function", aws.ToString(f.FunctionName))
		}
	}
	schedules, err := c.Scheduler.ListSchedules(ctx, &scheduler.ListSchedulesInput{NamePrefix: aws.String(prefix)})
	check(t, err)
	for _, s := range schedules.Schedules {
		add("schedule", aws.ToString(s.Name))
	}
	topics := sns.NewListTopicsPaginator(c.SNS, &sns.ListTopicsInput{})
	for topics.HasMorePages() {
		page, err := topics.NextPage(ctx)
		check(t, err)
		for _, tp := range page.Topics {
			arn := aws.ToString(tp.TopicArn)
			add("topic", arn[strings.LastIndex(arn, ":")+1:])
		}
	}
	if hasCloudWatch(t) {
		alarms, err := c.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(prefix)})
		check(t, err)
		for _, a := range alarms.MetricAlarms {
			add("alarm", aws.ToString(a.AlarmName))
		}
	}
	return names
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
