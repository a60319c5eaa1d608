package dashboard

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// The hub fixture: an organization of three accounts in two regions,
// audited by two daily runs. The management account 000000000000 has no
// member role, so its units fail with AccessDenied; db is a secret of
// 111111111111 and one of 222222222222, two secrets of one name.
const (
	denied  = "000000000000"
	member1 = "111111111111"
	member2 = "222222222222"
)

var (
	orgAccounts = []string{denied, member1, member2}
	orgRegions  = []string{"us-east-1", "eu-west-1"}
	orgRuns     = []time.Time{start.Add(36 * time.Hour), start.Add(60 * time.Hour)}
	orgNow      = orgRuns[1].Add(30 * time.Minute)
	// deniedError is the error the worker records for a unit whose
	// member role cannot be assumed, as the SDK words it.
	deniedError = "assume arn:aws:iam::000000000000:role/rotation-audit-reader: operation error STS: AssumeRole, " +
		"https response error StatusCode: 403, RequestID: 1, api error AccessDenied: not authorized to perform sts:AssumeRole"
)

// orgSecret is one secret of the hub fixture and the age of its value at
// the first run.
type orgSecret struct {
	account, region, name string
	age                   time.Duration
}

var orgSecrets = []orgSecret{
	{member1, "us-east-1", "db", 40 * day},
	{member2, "us-east-1", "db", 45 * day},
	{member1, "eu-west-1", "shared-key", 5 * day},
	{member2, "eu-west-1", "cache", 2 * day},
}

// arnOf is a secret's ARN, as Secrets Manager makes it.
func arnOf(account, region, name string) string {
	return "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + name + "-AbCdEf"
}

// hubTables is the template's tables, an organization hub's included,
// without the function.
func hubTables() *cfn.Template {
	t := *env.tmpl
	t.Resources = map[string]cfn.Resource{}
	for _, name := range []string{"AuditTable", "RunsTable", "OrgAuditTable", "UnitsTable"} {
		r := env.tmpl.Resources[name]
		r.Condition = ""
		t.Resources[name] = r
	}
	t.Outputs = nil
	return &t
}

// hub is the hub fixture's deployer, for the teardown.
var hub *deploy.Deployer

// seedHub writes the hub fixture: its tables, and its runs as the
// coordinator and the workers write them.
func seedHub(ctx context.Context) error {
	hub = &deploy.Deployer{Clients: env.clients, Stack: "hub", Logs: io.Discard, Embedded: true}
	if _, err := hub.Deploy(ctx, hubTables()); err != nil {
		return fmt.Errorf("deploy the tables of hub: %w", err)
	}
	put := func(table string, v any) error {
		item, err := attributevalue.MarshalMap(v)
		if err != nil {
			return err
		}
		_, err = env.clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
		return err
	}
	for i, at := range orgRuns {
		id, checkedAt := runID(at), at.Format(time.RFC3339)
		units := map[string]*report.Unit{}
		for _, acct := range orgAccounts {
			for _, region := range orgRegions {
				u := &report.Unit{Unit: tables.UnitOf(acct, region), AccountID: acct, Region: region, State: tables.UnitDone, FinishedAt: checkedAt}
				if acct == denied {
					u.State, u.Error = tables.UnitFailed, deniedError
				}
				units[u.Unit] = u
			}
		}
		flagged := 0
		for _, s := range orgSecrets {
			r := row(s.name, at, s.age+time.Duration(i)*day)
			r.SecretARN, r.AccountID, r.Region, r.Change = arnOf(s.account, s.region, s.name), s.account, s.region, tables.ChangeUnchanged
			if s.age < 30*day {
				r.Status, r.Reason = audit.StatusOK, audit.ReasonWithinMaxAge
			}
			if i == 0 {
				r.Change, r.ChangeMonth, r.FirstSeen = tables.ChangeNew, tables.MonthOf(at), checkedAt
			}
			if err := put(tables.OrgAuditTable("hub"), r); err != nil {
				return fmt.Errorf("put a row of %s: %w", r.SecretARN, err)
			}
			u := units[tables.UnitOf(s.account, s.region)]
			u.Checked++
			if r.Flagged() {
				u.Flagged++
				flagged++
			}
		}
		for _, u := range units {
			if err := put(tables.UnitsTable("hub"), struct {
				report.Unit
				RunID     string `dynamodbav:"run_id"`
				ExpiresAt int64  `dynamodbav:"expires_at"`
			}{*u, id, expiresAt(at)}); err != nil {
				return fmt.Errorf("put unit %s: %w", u.Unit, err)
			}
		}
		added := 0
		if i == 0 {
			added = len(orgSecrets)
		}
		entry := audit.RunEntry{Month: tables.MonthOf(at), RunID: id, CheckedAt: checkedAt, ScheduledTime: checkedAt, Complete: true,
			CompleteKey: tables.CompleteValue, Checked: len(orgSecrets), Flagged: flagged, Written: len(orgSecrets), MaxAgeDays: 30,
			ExpiresAt: expiresAt(at), New: added, UnitsExpected: len(units), UnitsDone: len(units), UnitsFailed: 2,
			Accounts: len(orgAccounts), Regions: "us-east-1,eu-west-1"}
		if err := put(tables.RunsTable("hub"), entry); err != nil {
			return fmt.Errorf("put run %s: %w", id, err)
		}
	}
	return nil
}

// hubServer is the dashboard of the hub fixture, whose schedule is daily,
// at its clock.
func hubServer() *Server {
	s := fixtureServer("hub", orgNow)
	s.Store.OrgTable, s.Store.UnitsTable = tables.OrgAuditTable("hub"), tables.UnitsTable("hub")
	s.Schedule = report.Schedule{Expression: "rate(1 day)", Timezone: "UTC"}
	return s
}
