package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// deployHub deploys template.yaml as an organization hub (Accounts set,
// two regions) on an embedded cloud of its own whose clock starts at
// start, and returns its URL and a DynamoDB client: the tables, with
// their indexes, are template.yaml's.
func deployHub(t *testing.T, stack string, start time.Time) (string, *dynamodb.Client) {
	url, clients := deployWith(t, stack, start, map[string]string{
		"Accounts": "000000000000,111111111111,222222222222", "Regions": "us-east-1,eu-west-1", "SeedTestSecrets": "false"})
	return url, clients.DynamoDB
}

// seedOrgRun writes one complete organization run into a hub's tables, as
// the coordinator and workers would: db in two members, shared-key in one
// (its eu-west-1 replica judged by its primary, so no row), and the
// management account denied in both regions.
func seedOrgRun(t *testing.T, db *dynamodb.Client, stack string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	put := func(table string, v any) {
		item, err := attributevalue.MarshalMap(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	runID := tables.NewRunID(at)
	checkedAt := at.UTC().Format(time.RFC3339)
	expires := at.AddDate(1, 0, 0).Unix() // kumo's TTL sweep deletes an item whose expires_at is 0
	zero := 0
	put(tables.RunsTable(stack), struct {
		audit.RunEntry
		New *int `dynamodbav:"new"` // the run recorded its changes
	}{audit.RunEntry{Month: tables.MonthOf(at), RunID: runID, CheckedAt: checkedAt, ScheduledTime: checkedAt, Complete: true,
		CompleteKey: tables.CompleteValue, Checked: 3, Flagged: 3, Written: 3, MaxAgeDays: 30, ExpiresAt: expires,
		UnitsExpected: 6, UnitsDone: 6, UnitsFailed: 2, Accounts: 3, Regions: "us-east-1,eu-west-1", Replicas: 1}, &zero})
	denied := "assume arn:aws:iam::000000000000:role/rotation-audit-reader: api error AccessDenied: not authorized to perform sts:AssumeRole"
	for _, acct := range []string{"000000000000", "111111111111", "222222222222"} {
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			u := report.Unit{Unit: tables.UnitOf(acct, region), AccountID: acct, Region: region, State: tables.UnitDone, FinishedAt: checkedAt}
			switch {
			case acct == "000000000000":
				u.State, u.Error = tables.UnitFailed, denied
			case region == "us-east-1":
				u.Checked, u.Flagged = 1, 1
			}
			if acct == "111111111111" && region == "us-east-1" {
				u.Checked, u.Flagged = 2, 2
			}
			put(tables.UnitsTable(stack), struct {
				report.Unit
				RunID     string `dynamodbav:"run_id"`
				ExpiresAt int64  `dynamodbav:"expires_at"`
			}{u, runID, expires})
		}
	}
	for _, s := range []struct{ acct, name string }{{"111111111111", "db"}, {"222222222222", "db"}, {"111111111111", "shared-key"}} {
		age := 40
		put(tables.OrgAuditTable(stack), audit.Record{SecretName: s.name, RunID: runID, Status: audit.StatusNeedsRotation,
			Reason: audit.ReasonOlderThanMaxAge, CheckedAt: checkedAt, SecretARN: "arn:aws:secretsmanager:us-east-1:" + s.acct + ":secret:" + s.name + "-AbCdEf",
			AgeDays: &age, Basis: audit.BasisLastChanged, BasisDate: "2026-08-22T12:00:00Z", MaxAgeDays: 30, ExpiresAt: expires,
			Change: tables.ChangeNew, ChangeMonth: tables.MonthOf(at), AccountID: s.acct, Region: "us-east-1"})
	}
	return runID
}

// The organization's answer through the command, on the embedded cloud
// with the hub's tables as template.yaml makes them: two rows for one
// name in two accounts, each with its account and region, and the account
// not reporting listed with AccessDenied, in a report that exits 4; then
// one account's report, the run log's units and the history by ARN.
func TestOrganizationReportOnTheEmbeddedCloud(t *testing.T) {
	ctx := context.Background()
	url, db := deployHub(t, "cliorg", time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC))
	runID := seedOrgRun(t, db, "cliorg", time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC))
	out := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, append(args, "-endpoint-url", url, "-stack", "cliorg"), &stdout, &stderr)
		return stdout.String(), err
	}

	t.Run("report", func(t *testing.T) {
		is := is.New(t)
		got, err := out("report", "-format", "csv")
		var line bytes.Buffer
		is.Equal(cmdline.Exit("rotation-audit", err, &line), exitIncomplete)              // secrets are missing: an account did not report
		is.True(strings.Contains(line.String(), "1 account not reporting in run "+runID)) // says so on stderr, in one line
		is.True(strings.Contains(line.String(), "000000000000 (eu-west-1, us-east-1: assume"))
		records, err := csv.NewReader(strings.NewReader(got)).ReadAll()
		is.NoErr(err)
		is.Equal(records[0][:11], strings.Split("secret_name,status,reason,age_days,basis,basis_date,rotation_enabled,owning_service,secret_arn,run_id,checked_at", ",")) // as documented
		is.Equal(records[0][len(records[0])-4:], []string{"account_id", "region", "unit_state", "unit_error"})                                                            // appended
		at := func(rec []string, col string) string { return rec[slices.Index(records[0], col)] }
		var dbs, missing []string
		for _, rec := range records[1:] {
			switch at(rec, "secret_name") {
			case "db":
				dbs = append(dbs, at(rec, "account_id")+"/"+at(rec, "region"))
			case "":
				missing = append(missing, at(rec, "account_id")+"/"+at(rec, "region")+"/"+at(rec, "unit_state"))
				is.True(strings.Contains(at(rec, "unit_error"), "AccessDenied")) // with why
			}
		}
		slices.Sort(dbs)
		is.Equal(dbs, []string{"111111111111/us-east-1", "222222222222/us-east-1"}) // one name, two accounts, two rows
		slices.Sort(missing)
		is.Equal(missing, []string{"000000000000/eu-west-1/failed", "000000000000/us-east-1/failed"})

		table, _ := out("report")
		is.True(strings.HasPrefix(table, "ACCOUNT "))
		is.True(strings.Contains(table, "ACCOUNTS NOT REPORTING"))
		is.True(strings.Contains(table, "3 accounts, 6 units, 2 failed: 1 account not reporting"))
	})
	t.Run("one account", func(t *testing.T) {
		is := is.New(t)
		got, err := out("report", "-account", "222222222222")
		is.NoErr(err) // it reports: nothing missing
		lines := strings.Split(strings.TrimSpace(got), "\n")
		is.True(strings.HasPrefix(lines[1], "222222222222  us-east-1  db "))
		is.True(!strings.Contains(got, "111111111111"))                         // only its rows and its account
		is.True(strings.Contains(got, "account 222222222222 at "+"2026-10-01")) // its summary
		is.True(strings.Contains(got, ": 1 checked, 1 need rotation"))          // its own counts
		_, err = out("report", "-account", "333333333333")
		is.Equal(cmdline.Exit("rotation-audit", err, &bytes.Buffer{}), 2) // an account the run did not expect
		is.True(strings.Contains(err.Error(), "did not audit account 333333333333"))
	})
	t.Run("runs", func(t *testing.T) {
		is := is.New(t)
		got, err := out("runs", "-from", "2026-10-01")
		is.NoErr(err)
		is.True(strings.Contains(got, "6 of 6, 2 failed"))
	})
	t.Run("history", func(t *testing.T) {
		is := is.New(t)
		got, err := out("history", "-from", "2026-10-01", "-to", "2026-10-01", "-schedule", "rate(1 day)", "-format", "csv")
		is.NoErr(err)
		records, err := csv.NewReader(strings.NewReader(got)).ReadAll()
		is.NoErr(err)
		is.Equal(records[0], slices.Concat(report.HistoryColumns, report.HistoryOrgColumns))
		is.Equal(len(records), 4) // db twice, shared-key: keyed by ARN
		got, err = out("history", "-from", "2026-10-01", "-to", "2026-10-01", "-schedule", "rate(1 day)", "-account", "222222222222", "-format", "csv")
		is.NoErr(err)
		records, err = csv.NewReader(strings.NewReader(got)).ReadAll()
		is.NoErr(err)
		is.Equal(len(records), 2) // its db only
		is.Equal(records[1][len(records[1])-3], "222222222222")
	})
	t.Run("dashboard", func(t *testing.T) {
		is := is.New(t)
		serve := func(args ...string) (string, error) {
			// Should it serve, it stops as soon as it says where.
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var stdout bytes.Buffer
			err := run(ctx, append([]string{"dashboard", "-addr", "127.0.0.1:0", "-endpoint-url", url, "-stack", "cliorg", "-schedule", "rate(1 day)"}, args...),
				writerFunc(func(p []byte) (int, error) { cancel(); return stdout.Write(p) }), &bytes.Buffer{})
			return stdout.String(), err
		}
		got, err := serve()
		is.NoErr(err)
		is.True(strings.HasPrefix(got, "dashboard of cliorg: http://127.0.0.1:")) // the hub's tables checked, it served
		got, err = serve("-units-table", "cliorg-nounits")
		is.Equal(got, "") // it never served: the latest run is an organization's, and its units cannot be read
		var line bytes.Buffer
		is.Equal(cmdline.Exit("rotation-audit", err, &line), 2) // a user's mistake
		is.True(strings.Contains(line.String(), "cliorg-nounits does not exist"))
		is.Equal(strings.Count(strings.TrimSpace(line.String()), "\n"), 0) // in one line
	})
}
