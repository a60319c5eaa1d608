package tests

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/latency"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// counted points the stack's function at a proxy that counts its AWS
// calls by operation (with no added latency), and returns the proxy.
func counted(t *testing.T, cloud *localcloud.Cloud, c *deploy.Clients, s scenario.Stack) *latency.Proxy {
	t.Helper()
	ctx := context.Background()
	front, err := url.Parse(cloud.URL)
	check(t, err)
	proxy := latency.To(front, 0)
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	cfg, err := c.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(s.Function)})
	check(t, err)
	vars := cfg.Environment.Variables
	vars["AWS_ENDPOINT_URL"] = srv.URL
	_, err = c.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(s.Function), Environment: &ltypes.Environment{Variables: vars},
	})
	check(t, err)
	return proxy
}

// The acceptance of "since the last run" on the real function and the
// embedded cloud: a second run with nothing changed makes no
// ListSecretVersionIds call and says unchanged on every row; a month
// later, after one PutSecretValue, it makes exactly one, the changed
// secret's row says what changed, and newly flagged, resolved, new and
// gone are counted right.
func TestSinceThePreviousRun(t *testing.T) {
	needsInvoke(t)
	is := is.New(t)
	ctx := context.Background()
	cloud, c, s := cloudOf(t, "vsince", timeAt("2026-09-01T00:00:00Z"), nil)
	sm := c.SecretsManager
	create := func(name string) {
		_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1"),
			Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}}})
		check(t, err)
	}
	edited := []string{"vsince-a", "vsince-b", "vsince-c"}
	for _, name := range edited {
		create(name)
	}
	move := func(by string) {
		_, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: by, SkipFires: true})
		check(t, err)
	}
	move("60d")
	for _, name := range edited { // old secrets changed recently: each needs its value's own date
		_, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(name),
			Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String("payments")}}})
		check(t, err)
	}
	create("vsince-young") // ok now, flagged a month later
	proxy := counted(t, cloud, c, s)
	const lookups = "secretsmanager.ListSecretVersionIds"

	first := invokeAt(t, cloud, c, s)
	firstCalls := proxy.Reset()
	is.Equal(firstCalls[lookups], 3)    // the first run looks up every edited secret
	is.Equal(firstCalls[importCall], 0) // SecurityHubFindings is off by default: no Security Hub call
	is.Equal(first.FindingsImported, 0)
	is.Equal(first.New, first.Checked) // and every secret is new
	is.Equal(first.Checked, 6)         // the three edited, young, and the seeded fresh and stale
	is.Equal(first.NewFlagged, 5)      // all but young: 60-day-old values
	is.Equal(first.PreviousRunID, "")  // the first run ever
	is.Equal(changesOf(t, c, s, first.RunID)["vsince-young"], tables.ChangeNew)

	move("1h")
	second := invokeAt(t, cloud, c, s)
	calls := proxy.Reset()
	is.Equal(calls[lookups], 0)                   // nothing changed: no lookup
	is.Equal(calls["DynamoDB_20120810.Query"], 2) // the previous run's entry and its rows
	is.Equal(second.PreviousRunID, first.RunID)
	is.Equal([]int{second.New, second.NewlyFlagged, second.Resolved, second.Gone}, []int{0, 0, 0, 0})
	for name, change := range changesOf(t, c, s, second.RunID) {
		is.Equal(change, tables.ChangeUnchanged) // every row says so
		_ = name
	}

	move("1h")
	_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("vsince-a"), SecretString: aws.String("v2")})
	check(t, err)
	_, err = sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("vsince-b"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	check(t, err)
	create("vsince-new")
	move("1m")
	third := invokeAt(t, cloud, c, s)
	is.Equal(proxy.Reset()[lookups], 1) // after one PutSecretValue, exactly one lookup
	is.Equal([]int{third.New, third.NewFlagged, third.NewlyFlagged, third.Resolved, third.Gone}, []int{1, 0, 0, 1, 1})
	is.Equal(third.Checked, 6) // vsince-b is gone, vsince-new arrived

	rows, err := scenario.RunRows(ctx, c.DynamoDB, s, third.RunID)
	is.NoErr(err)
	byName := map[string]audit.Record{}
	for _, r := range rows {
		byName[r.SecretName] = r
	}
	is.Equal(byName["vsince-a"].Change, tables.ChangeResolved) // a new value...
	is.Equal(byName["vsince-a"].Changed, audit.ChangedValue)   // ...and the row says so
	is.Equal(byName["vsince-new"].Change, tables.ChangeNew)
	is.Equal(byName["vsince-c"].Change, tables.ChangeUnchanged)
	is.Equal(byName["vsince-c"].Changed, "")
	is.Equal(byName["vsince-c"].Basis, audit.BasisCurrentVersion) // its value's date, reused
	is.Equal(*byName["vsince-c"].AgeDays, 60)                     // and its age from it
	is.Equal(byName["vsince-c"].FirstSeen, first.CheckedAt)
	gone := byName["vsince-b"]
	is.Equal(gone.Change, tables.ChangeGone) // a tombstone...
	is.Equal(gone.Status, audit.Status(""))  // ...without a status
	is.Equal(gone.ChangeMonth, tables.MonthOf(timeAt(third.CheckedAt)))
	for _, r := range rows {
		is.Equal(r.ChangeMonth != "", tables.Changed(r.Change)) // only the changes are in the sparse index
	}

	move("31d") // young, vsince-a's new value and vsince-new grow too old
	fourth := invokeAt(t, cloud, c, s)
	is.Equal(proxy.Reset()[lookups], 0)
	is.Equal([]int{fourth.New, fourth.NewlyFlagged, fourth.Resolved, fourth.Gone}, []int{0, 3, 0, 0})
	changes := changesOf(t, c, s, fourth.RunID)
	for _, name := range []string{"vsince-young", "vsince-a", "vsince-new"} {
		is.Equal(changes[name], tables.ChangeNewlyFlagged)
	}
	is.Equal(len(changes), 6) // vsince-b is not gone twice
}

// changesOf is the change of each row of a run, by secret.
func changesOf(t *testing.T, c *deploy.Clients, s scenario.Stack, runID string) map[string]string {
	t.Helper()
	rows, err := scenario.RunRows(context.Background(), c.DynamoDB, s, runID)
	check(t, err)
	out := map[string]string{}
	for _, r := range rows {
		out[r.SecretName] = r.Change
	}
	if len(out) == 0 {
		t.Fatalf("run %s has no rows", runID)
	}
	return out
}

// timeAt reads an RFC 3339 time.
func timeAt(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
