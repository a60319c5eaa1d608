package dashboard

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/benchread"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// hostile are names the dashboard must show as text and link to: markup,
// quotes, spreadsheet formulas, unicode, and the names a path would lose
// (a leading slash, dot segments), and one of 512 characters, the longest
// Secrets Manager allows. Secrets Manager refuses some of them; the audit
// table holds whatever it is given, so the dashboard must not trust them.
var hostile = []string{
	"<script>document.title='pwned'</script>",
	`"double" 'single' quotes`,
	"=1+2",
	"@x",
	"ünïcødé-秘密-🔑",
	"/prod/db/password",
	"x/../y",
	".",
	"..",
	"a&quarter=2026Q3#%2F?",
	strings.Repeat("a/", 255) + "zz",
}

// The hostile fixture's runs: one at noon on its first day that lists
// every name but "@x" (not created yet, or deleted), none on the second
// day, and one at midnight on the third, which lists them all; and the
// dashboard's clock half an hour after it.
var (
	oddRuns = []time.Time{start.Add(12 * time.Hour), start.Add(48 * time.Hour)}
	oddNow  = start.Add(48*time.Hour + 30*time.Minute)
)

// almost is the age of one flagged secret of the hostile fixture: a day
// short of 31 whole days, so its age_days is 30.
const almost = 30*day + 23*time.Hour

// The ahead fixture's runs: hourly from the quarter's start to 03:00, and
// one invoked by hand with a scheduled_time in 2030.
var (
	aheadRuns = []time.Time{start, start.Add(time.Hour), start.Add(2 * time.Hour), start.Add(3 * time.Hour)}
	future    = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

// fixtures are the table-only stacks the tests write rows into directly.
var fixtures []*deploy.Deployer

// The many fixture: 250 secrets at first, one run a day for ten days from
// the quarter's start, written as the write side does since rows carry
// their change (with the change index), and the dashboard's clock at noon
// on the tenth day.
const manySecrets = 250

var (
	manyRuns = 10
	manyNow  = start.AddDate(0, 0, manyRuns-1).Add(12 * time.Hour)
)

// tablesOnly is the template's two tables, without the function.
func tablesOnly() *cfn.Template {
	t := *env.tmpl
	t.Resources = map[string]cfn.Resource{"AuditTable": env.tmpl.Resources["AuditTable"], "RunsTable": env.tmpl.Resources["RunsTable"]}
	t.Outputs = nil
	return &t
}

// fixture deploys the tables of a stack of that name, and returns its
// store.
func fixture(ctx context.Context, name string) (*report.Store, error) {
	d := &deploy.Deployer{Clients: env.clients, Stack: name, Logs: io.Discard, Embedded: true}
	fixtures = append(fixtures, d)
	if _, err := d.Deploy(ctx, tablesOnly()); err != nil {
		return nil, fmt.Errorf("deploy the tables of %s: %w", name, err)
	}
	return &report.Store{DB: env.clients.DynamoDB, Table: name + "-audit", RunsTable: name + "-runs"}, nil
}

// seedFixtures writes the hostile, the many, the ahead and the hub fixtures.
func seedFixtures(ctx context.Context) error {
	odd, err := fixture(ctx, "odd")
	if err != nil {
		return err
	}
	for i, at := range oddRuns {
		var rows []audit.Record
		for _, name := range hostile {
			age := 40*day + 5*time.Hour
			if name == "/prod/db/password" {
				age = almost
			}
			if name != "@x" || i > 0 {
				rows = append(rows, row(name, at, age))
			}
		}
		if err := putRun(ctx, odd, at, rows); err != nil {
			return err
		}
	}
	if err := benchread.CreateTables(ctx, env.clients.DynamoDB, "many"); err != nil {
		return err
	}
	if _, err := benchread.Generate(ctx, env.clients.DynamoDB, benchread.Options{Stack: "many", Secrets: manySecrets, First: start, Runs: manyRuns, Seed: 7}); err != nil {
		return fmt.Errorf("write the many fixture: %w", err)
	}
	ahead, err := fixture(ctx, "ahead")
	if err != nil {
		return err
	}
	for _, at := range append(aheadRuns, future) {
		if err := putRun(ctx, ahead, at, []audit.Record{row("ahead-db", at, 40*day)}); err != nil {
			return err
		}
	}
	return seedHub(ctx)
}

// row is a secret's row in the run at that time, needing rotation, with
// its value that old.
func row(name string, at time.Time, age time.Duration) audit.Record {
	days := int(age / day)
	return audit.Record{SecretName: name, RunID: runID(at), Status: audit.StatusNeedsRotation, Reason: audit.ReasonOlderThanMaxAge,
		CheckedAt: at.Format(time.RFC3339), SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x", AgeDays: &days,
		Basis: audit.BasisLastRotated, BasisDate: at.Add(-age).Format(time.RFC3339), RotationEnabled: true, MaxAgeDays: 30,
		ExpiresAt: expiresAt(at)}
}

// expiresAt is a fixture item's TTL: a year after its run, as the
// function writes it. kumo's TTL sweep runs on real time and deletes an
// item whose expires_at is 0 (the Unix epoch), so without it the rows
// vanish while a slow test run (-race) still reads them.
func expiresAt(at time.Time) int64 { return at.AddDate(1, 0, 0).Unix() }

// runID is the ID of the scheduled run at that time.
func runID(at time.Time) string { return fmt.Sprintf("run-%d", at.UnixMilli()) }

// putRun writes a complete scheduled run and its rows.
// Like the function, it records what changed since the fixture's previous
// run (every row here is new or unchanged: a fixture's secrets stay), and
// counts the new ones in the run log entry.
func putRun(ctx context.Context, s *report.Store, at time.Time, rows []audit.Record) error {
	flagged, added := 0, 0
	if seen[s.Table] == nil {
		seen[s.Table] = map[string]bool{}
	}
	for _, r := range rows {
		r.Change = tables.ChangeUnchanged
		if !seen[s.Table][r.SecretName] {
			r.Change, r.ChangeMonth, r.FirstSeen = tables.ChangeNew, tables.MonthOf(at), r.CheckedAt
			seen[s.Table][r.SecretName] = true
			added++
		}
		item, err := attributevalue.MarshalMap(r)
		if err != nil {
			return err
		}
		if _, err := env.clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
			return fmt.Errorf("put a row of %s: %w", r.SecretName, err)
		}
		if r.Flagged() {
			flagged++
		}
	}
	entry := audit.RunEntry{Month: tables.MonthOf(at), RunID: runID(at), CheckedAt: at.Format(time.RFC3339), Checked: len(rows),
		Flagged: flagged, Written: len(rows), Complete: true, MaxAgeDays: 30, ScheduledTime: at.Format(time.RFC3339), CompleteKey: "complete",
		ExpiresAt: expiresAt(at), New: added}
	item, err := attributevalue.MarshalMap(entry)
	if err != nil {
		return err
	}
	if _, err := env.clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.RunsTable), Item: item}); err != nil {
		return fmt.Errorf("put run %s: %w", entry.RunID, err)
	}
	return nil
}

// seen holds, by audit table, the secrets of the fixture's runs so far.
var seen = map[string]map[string]bool{}

// fixtureServer is the dashboard of a fixture's tables at a fixed clock.
func fixtureServer(name string, at time.Time) *Server {
	s := server(func() time.Time { return at })
	s.Store = &report.Store{DB: env.clients.DynamoDB, Table: name + "-audit", RunsTable: name + "-runs"}
	s.Stack, s.Scheduler = name, nil
	return s
}

// manyServer is the dashboard of the many fixture, whose schedule is
// daily, at its clock.
func manyServer() *Server {
	s := fixtureServer("many", manyNow)
	s.Schedule = report.Schedule{Expression: "rate(1 day)", Timezone: "UTC"}
	return s
}
