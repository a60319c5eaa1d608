package tests

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/scenario"
)

// The scheduler clock fires the deployed schedule by itself: rows appear
// with no manual invoke, one run per simulated hour.
func TestClockFiresFunction(t *testing.T) {
	needsEmbedded(t)
	is := is.New(t)
	ctx := context.Background()
	// A second cloud in this process shares kumo's state (facts.md), so the
	// stack gets its own names; its clock makes an hour last 50 ms.
	cloud, err := localcloud.Start(localcloud.Options{ClockSpeed: 3600 * 20, Logs: testLogs()})
	is.NoErr(err)
	t.Cleanup(func() { cloud.Close() })
	d := deployer("clocktest", nil)
	d.Clients = cloud.Clients()
	t.Cleanup(func() { teardownClean(t, d) }) // before the cloud closes
	stack, err := d.Deploy(ctx, env.tmpl)
	is.NoErr(err)
	s, err := scenario.FromOutputs(stack.Outputs)
	is.NoErr(err)

	runs := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(runs) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		out, err := cloud.Clients().DynamoDB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Table)})
		is.NoErr(err)
		var rows []audit.Record
		is.NoErr(attributevalue.UnmarshalListOfMaps(out.Items, &rows))
		for _, r := range rows {
			if r.SecretName == "clocktest-fresh" {
				runs[r.RunID] = true
			}
		}
	}
	is.True(len(runs) >= 3) // the clock fired at least three times by itself
	var ids []int64
	for id := range runs {
		ms, err := strconv.ParseInt(strings.TrimPrefix(id, "run-"), 10, 64)
		is.NoErr(err) // run-<scheduled time in Unix ms>
		ids = append(ids, ms)
	}
	for _, a := range ids {
		for _, b := range ids {
			is.Equal((a-b)%time.Hour.Milliseconds(), int64(0)) // run IDs are scheduled times, an hour apart
		}
	}
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
	is.Equal(again.Created, 0)                    // nothing new
	is.Equal(again.Updated, len(first.Resources)) // everything updated in place
	is.Equal(again.Outputs, first.Outputs)

	after, err := env.clients.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.Fresh)})
	is.NoErr(err)
	is.Equal(aws.ToString(after.SecretString), aws.ToString(before.SecretString)) // the value was not regenerated
	redescribed, err := env.clients.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Stale)})
	is.NoErr(err)
	is.Equal(aws.ToTime(redescribed.LastChangedDate), aws.ToTime(described.LastChangedDate)) // untouched: the age the check reads stays
	is.Equal(len(namesWithPrefix(t, "rotcheck-")), len(first.Resources))                     // one of each, no duplicates

	if env.invoke {
		runID := aRun(t, s)
		rows, err := scenario.C(ctx, env.clients, s, runID)
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
	is.Equal(len(namesWithPrefix(t, "teardowntest-")), len(stack.Resources))

	res, err := d.Teardown(ctx, env.tmpl)
	is.NoErr(err)
	is.Equal(len(res.Deleted), len(stack.Resources))
	is.Equal(len(res.Leftovers), 0)
	is.Equal(namesWithPrefix(t, "teardowntest-"), []string(nil)) // nothing with the stack's names remains

	again, err := d.Teardown(ctx, env.tmpl)
	is.NoErr(err)
	is.Equal(len(again.Deleted), 0) // nothing left to delete
	is.Equal(len(again.Absent), len(stack.Resources))
}

// teardownClean tears a test stack down and fails the test if anything stays.
func teardownClean(t *testing.T, d *localcloud.Deployer) {
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
	return names
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
