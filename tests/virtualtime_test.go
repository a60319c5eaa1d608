package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
)

// cloudOf starts an embedded cloud of the test's own, whose clock starts at
// start (now if zero), and deploys template.yaml to it as stack. Its
// scheduler fires only this stack, and its function lists only this
// cloud's secrets. Clouds in one process share kumo's tables and
// functions, so each test's stack has a name of its own.
func cloudOf(t *testing.T, stack string, start time.Time, params map[string]string) (*localcloud.Cloud, *deploy.Clients, scenario.Stack) {
	t.Helper()
	needsEmbedded(t)
	cloud, err := localcloud.Start(localcloud.Options{ClockStart: start, Logs: testLogs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloud.Close() })
	d := deployer(stack, params)
	d.Clients = deploy.NewClients(cloud.URL, localcloud.DefaultRegion)
	t.Cleanup(func() { teardownClean(t, d) }) // before the cloud closes
	out, err := d.Deploy(context.Background(), env.tmpl)
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenario.FromOutputs(out.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	return cloud, d.Clients, s
}

// runsOf lists the run IDs of one secret's rows, oldest first: a Query on
// its partition, page by page.
func runsOf(t *testing.T, c *deploy.Clients, s scenario.Stack, secret string) []string {
	t.Helper()
	pages := dynamodb.NewQueryPaginator(c.DynamoDB, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("secret_name = :s"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":s": &dbtypes.AttributeValueMemberS{Value: secret}},
	})
	var ids []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		check(t, err)
		var rows []audit.Record
		check(t, attributevalue.UnmarshalListOfMaps(page.Items, &rows))
		for _, r := range rows {
			ids = append(ids, r.RunID)
		}
	}
	return ids
}

// invokeAt invokes the function as the scheduler would at the cloud's now.
func invokeAt(t *testing.T, cloud *localcloud.Cloud, c *deploy.Clients, s scenario.Stack) audit.Result {
	t.Helper()
	sched, err := scenario.ScheduleConfig(context.Background(), c.Scheduler, s)
	check(t, err)
	inv, err := scenario.InvokeAsScheduler(context.Background(), c.Lambda, sched, cloud.Scheduler().Clock().Now())
	check(t, err)
	return inv.Result
}

// A month of hourly runs in seconds: advancing the cloud 31 days fires the
// schedule 744 times, each run its own; the seeded secrets are then 31 days
// old, and a new value makes one fresh again. The Secrets Manager dates
// follow the cloud clock throughout.
func TestVirtualMonth(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	cloud, c, s := cloudOf(t, "vmonth", time.Time{}, nil)
	sm := c.SecretsManager
	created, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Fresh)})
	is.NoErr(err)

	moved, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "31d"})
	is.NoErr(err)
	is.Equal(moved.Fired, 744) // 31 days of rate(1 hour)
	is.Equal(moved.Failed, 0)
	runs := runsOf(t, c, s, s.Fresh)
	is.Equal(len(runs), 744) // each fire a run with its own run_id
	last, err := tables.ParseRunID(runs[len(runs)-1])
	is.NoErr(err)
	is.True(!last.After(moved.To)) // the last one at or before the new cloud time

	res := invokeAt(t, cloud, c, s)
	is.Equal(res.Checked, 2)
	is.Equal(res.Flagged, 2) // both seeded secrets are 31 days old

	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.Fresh), SecretString: aws.String("new value")})
	is.NoErr(err)
	_, err = clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "1m"})
	is.NoErr(err)
	res = invokeAt(t, cloud, c, s)
	is.Equal(res.Flagged, 1) // the fresh secret's new value is new

	versions, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(s.Fresh)})
	is.NoErr(err)
	is.Equal(len(versions.Versions), 2)
	var dates []time.Time
	for _, v := range versions.Versions {
		dates = append(dates, aws.ToTime(v.CreatedDate))
	}
	gap := dates[0].Sub(dates[1]).Abs()
	is.True(gap > 31*24*time.Hour && gap < 31*24*time.Hour+time.Hour) // 31 days apart in cloud time
	is.True(aws.ToTime(created.CreatedDate).Before(moved.From))       // the first one at deploy

	rotated, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(s.Stale)})
	is.NoErr(err)
	is.True(aws.ToString(rotated.VersionId) != "")
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Stale)})
	is.NoErr(err)
	is.True(!aws.ToTime(desc.LastRotatedDate).Before(moved.To)) // rotated at cloud time

	_, err = clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "2d"})
	is.NoErr(err)
	_, err = sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(s.Ignored),
		Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String("payments")}}})
	is.NoErr(err)
	desc, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Ignored)})
	is.NoErr(err)
	is.True(aws.ToTime(desc.LastChangedDate).After(moved.To.Add(47 * time.Hour))) // a tag edit moves LastChangedDate

	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("vmonth-owned"), SecretString: aws.String("x"),
		Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String("x")}}})
	is.NoErr(err)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("vmonth-managedby"), SecretString: aws.String("x"),
		Tags: []smtypes.Tag{{Key: aws.String("ManagedBy"), Value: aws.String("team")}}})
	is.NoErr(err)
	listed, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{"Managed"}}},
	})
	is.NoErr(err)
	var names []string
	for _, e := range listed.SecretList {
		names = append(names, aws.ToString(e.Name))
	}
	is.Equal(len(names), 4)                                                 // every tag key starting with Managed...
	is.True(strings.Contains(strings.Join(names, " "), "vmonth-managedby")) // ...ManagedBy too...
	is.True(!strings.Contains(strings.Join(names, " "), "vmonth-owned"))    // ...and nothing else
}

// A weekday 09:00 cron schedule in New York fires at the right cloud times
// across a week, including the end of daylight saving time.
func TestCronScheduleInItsTimeZone(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	start := time.Date(2026, 10, 29, 12, 0, 0, 0, time.UTC) // Thursday; New York leaves summer time on Sunday 1 November
	cloud, c, s := cloudOf(t, "vcron", start, map[string]string{
		"ScheduleExpression": "cron(0 9 ? * MON-FRI *)", "ScheduleTimezone": "America/New_York",
	})
	moved, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "7d"})
	is.NoErr(err)
	is.Equal(moved.Fired, 5)
	var got []string
	for _, id := range runsOf(t, c, s, s.Fresh) {
		at, err := tables.ParseRunID(id)
		is.NoErr(err)
		got = append(got, at.Format(time.RFC3339))
	}
	is.Equal(got, []string{
		"2026-10-29T13:00:00Z", "2026-10-30T13:00:00Z", // 09:00 EDT
		"2026-11-02T14:00:00Z", "2026-11-03T14:00:00Z", "2026-11-04T14:00:00Z", // 09:00 EST, none on the weekend
	})
}

// Scenario D: a month after the deploy, with the fresh secret rotated and
// a tag edited on the stale one, the stale one's 31-day-old value is found
// by its version's own date, not hidden by the edit.
func TestScenarioD_AgeOfTheValue(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	cloud, c, s := cloudOf(t, "vage", time.Time{}, nil)
	_, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "31d", SkipFires: true})
	is.NoErr(err)
	is.NoErr(scenario.EditAfterAMonth(ctx, c.SecretsManager, s))
	sched, err := scenario.ScheduleConfig(ctx, c.Scheduler, s)
	is.NoErr(err)
	inv, err := scenario.InvokeAsScheduler(ctx, c.Lambda, sched, cloud.Scheduler().Clock().Now())
	is.NoErr(err)
	is.Equal(inv.Result.LookedUp, 1) // only the stale secret needed its version's date
	rows, err := scenario.RunRows(ctx, c.DynamoDB, s, inv.Result.RunID)
	is.NoErr(err)
	is.Equal(scenario.CheckValueAge(s, inv, rows), []string(nil)) // checked 2, flagged 1, current_version 31, last_rotated 0
}
