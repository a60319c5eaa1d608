package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"export"}, `unknown command "export"`},
		{"bad format", []string{"report", "-format", "xml"}, `-format: format "xml": want table, csv, json, markdown, ocsf or asff`},
		{"bad run", []string{"report", "-run", "yesterday"}, `-run: run ID "yesterday"`},
		{"all and changes", []string{"report", "-all", "-changes"}, "give -all or -changes, not both"},
		{"bad quarter", []string{"history", "-quarter", "2026Q5", "-endpoint-url", "http://127.0.0.1:1"}, `-quarter: quarter "2026Q5"`},
		{"quarter and dates", []string{"history", "-quarter", "2026Q4", "-from", "2026-10-01", "-endpoint-url", "http://127.0.0.1:1"}, "not both"},
		{"bad date", []string{"runs", "-from", "last week", "-endpoint-url", "http://127.0.0.1:1"}, `-from: "last week"`},
		{"backwards", []string{"runs", "-from", "2026-10-02", "-to", "2026-10-01", "-endpoint-url", "http://127.0.0.1:1"}, "is not before -to"},
		{"endpoint down", []string{"report", "-endpoint-url", "http://127.0.0.1:1"}, "cannot reach http://127.0.0.1:1 (is it running?"},
		{"stray argument", []string{"report", "now"}, `unexpected argument "now"`},
		{"unknown flag", []string{"report", "-nosuchflag"}, `flag provided but not defined: -nosuchflag`},
		{"bad flag value", []string{"report", "-all=maybe"}, `invalid boolean value "maybe" for -all`},
		{"endpoint not a URL", []string{"report", "-endpoint-url", "not-a-url"}, `-endpoint-url "not-a-url" is not a URL such as http://localhost:4566`},
		{"bad account", []string{"report", "-account", "12345"}, `-account: account "12345" is not an AWS account ID: want 12 digits`},
		{"bad account in history", []string{"history", "-account", "1111111111x1", "-endpoint-url", "http://127.0.0.1:1"}, `-account: account "1111111111x1"`},
		{"endpoint without scheme", []string{"runs", "-endpoint-url", "localhost:4566"}, `-endpoint-url "localhost:4566" is not a URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			is.True(errors.Is(err, errUsage))               // exit status 2: one line, no stack trace
			is.True(strings.Contains(err.Error(), tt.want)) // naming the mistake
			is.Equal(stderr.String(), "")                   // no help dumped before it
			is.Equal(cmdline.Exit("rotation-audit", err, &stderr), 2)
			is.Equal(strings.Count(stderr.String(), "\n"), 1) // the one line
		})
	}
}

// A mistake the help answers ends with where the help is: the command's,
// or the program's for a command it does not know.
func TestUsageErrorsPointToHelp(t *testing.T) {
	tests := []struct {
		args []string
		line string
	}{
		{[]string{"report", "-nosuchflag"}, `rotation-audit: flag provided but not defined: -nosuchflag (run "rotation-audit report -h")`},
		{[]string{"history", "yesterday"}, `rotation-audit: unexpected argument "yesterday" (run "rotation-audit history -h")`},
		{[]string{"export"}, `rotation-audit: unknown command "export": want report, history, runs or dashboard (run "rotation-audit -h")`},
		{nil, `rotation-audit: no command given: want report, history, runs or dashboard (run "rotation-audit -h")`},
	}
	for _, tt := range tests {
		is := is.New(t)
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tt.args, &stdout, &stderr)
		is.Equal(cmdline.Exit("rotation-audit", err, &stderr), 2)
		is.Equal(stderr.String(), tt.line+"\n") // only that line
	}
}

func TestHelp(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	is.NoErr(run(context.Background(), []string{"help"}, &stdout, &stderr))
	for _, cmd := range []string{"report", "history", "runs", "dashboard"} {
		is.True(strings.Contains(stdout.String(), "\n  "+cmd+" ")) // every command is listed
	}
	err := run(context.Background(), []string{"history", "-h"}, &stdout, &stderr)
	is.True(errors.Is(err, flag.ErrHelp))
	is.True(strings.Contains(stderr.String(), "about 92 Queries")) // the cost is stated
	stderr.Reset()
	_ = run(context.Background(), []string{"report", "-h"}, &stdout, &stderr)
	is.True(strings.Contains(stderr.String(), "secret_name,status,reason,age_days,basis,basis_date,rotation_enabled,owning_service,secret_arn,run_id,checked_at"))
}

// The commands against a stack on the embedded cloud, 35 days after its
// deploy: both seeded secrets need rotation.
func TestCommandsOnTheEmbeddedCloud(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	url := stack(t)
	out := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, append(args, "-endpoint-url", url, "-stack", "cli"), &stdout, &stderr)
		return stdout.String(), err
	}
	csv, err := out("report", "-format", "csv")
	is.NoErr(err)
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	is.Equal(len(lines), 3) // the header and the two flagged secrets
	for _, line := range lines[1:] {
		// name,status,reason,age_days,basis,basis_date,...,checked_at (11th)
		f := strings.Split(line, ",")
		is.True(f[0] == "cli-fresh" || f[0] == "cli-stale")
		is.Equal(f[1:3], []string{"needs_rotation", "older_than_max_age"})
		basis, err := time.Parse(time.RFC3339, f[5])
		is.NoErr(err)
		checked, err := time.Parse(time.RFC3339, f[10])
		is.NoErr(err)
		// The seeds are created while the stack deploys, within a second
		// or two of the schedule's start, so 35 days on their age in whole
		// days is 35, or 34 for one created after the fire's second. The
		// dates are printed to the second, so the age they give may be a
		// day more than the exact one.
		age, err := strconv.Atoi(f[3])
		is.NoErr(err)
		fromDates := int(checked.Sub(basis) / (24 * time.Hour))
		is.True(age == fromDates || age == fromDates-1)
		is.True(age == 34 || age == 35)
	}

	_, err = out("report", "-fail-on-flagged")
	is.True(errors.Is(err, errFlagged)) // exit status 3, for pipelines

	table, err := out("report")
	is.NoErr(err)
	is.True(strings.Contains(table, "2 checked, 2 need rotation (threshold 30 days)")) // the summary line

	// The finding formats: one finding per secret, in the secrets' account.
	ocsf, err := out("report", "-format", "ocsf")
	is.NoErr(err)
	is.Equal(strings.Count(ocsf, "\n"), 2)                             // one line per secret of the run
	is.True(strings.Contains(ocsf, `"account":{"uid":"000000000000"`)) // read from the secret's ARN
	asff, err := out("report", "-format", "asff")
	is.NoErr(err)
	var findings []struct{ Id, AwsAccountId string }
	is.NoErr(json.Unmarshal([]byte(asff), &findings))
	is.Equal(len(findings), 2)
	is.Equal(findings[0].AwsAccountId, "000000000000")
	_, err = out("runs", "-format", "ocsf")
	is.True(errors.Is(err, errUsage)) // only a report has findings

	history, err := out("history", "-quarter", "2026Q4", "-format", "json")
	is.NoErr(err)
	var h struct {
		Expected int `json:"runs_expected"`
		Recorded int `json:"runs_recorded"`
		Secrets  []struct {
			Name        string `json:"secret_name"`
			DaysFlagged int    `json:"days_flagged"`
		} `json:"secrets"`
	}
	is.NoErr(json.Unmarshal([]byte(history), &h))
	is.Equal(h.Recorded, h.Expected) // the control ran every hour...
	is.Equal(h.Recorded, 35*24)      // ...of the 35 days
	is.Equal(len(h.Secrets), 2)
	is.Equal(h.Secrets[0].DaysFlagged, 6) // from the first run more than 30 days (elapsed) after the deploy, on day 31, to day 36's midnight run

	runs, err := out("runs", "-format", "csv")
	is.NoErr(err)
	is.Equal(strings.Count(runs, "\n"), 1+7*24) // the header and the last 7 days' runs

	_, err = out("report", "-run", "run-1")
	is.True(errors.Is(err, errUsage))
	is.True(strings.Contains(err.Error(), "no such run run-1"))
}

// stack deploys template.yaml as stack "cli" on an embedded cloud whose
// clock starts on 2026-10-01, moves it 35 days on, and returns its URL.
func stack(t *testing.T) string {
	t.Helper()
	url, _ := deployAt(t, "cli", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	if _, err := clockapi.MoveClock(context.Background(), url, clockapi.ClockMove{Advance: "35d"}); err != nil {
		t.Fatal(fmt.Errorf("advance: %w", err))
	}
	return url
}

// report -changes on the embedded cloud, after the hourly runs of a stack
// whose stale secret was deleted and a new one created: the new one is
// listed, the gone one apart, and the summary says so.
func TestReportChangesOnTheEmbeddedCloud(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	url, _ := deployAt(t, "clichg", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	advance := func(by string) {
		if _, err := clockapi.MoveClock(ctx, url, clockapi.ClockMove{Advance: by}); err != nil {
			t.Fatal(err)
		}
	}
	advance("2h") // two hourly runs
	sm := deploy.NewClients(url, localcloud.DefaultRegion).SecretsManager
	_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("clichg-stale"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	is.NoErr(err)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("clichg-new"), SecretString: aws.String("x"),
		Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}}})
	is.NoErr(err)
	advance("1h")

	out := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		is.NoErr(run(ctx, append(args, "-endpoint-url", url, "-stack", "clichg"), &stdout, &stderr))
		return stdout.String()
	}
	table := out("report", "-changes")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	is.True(strings.HasPrefix(lines[0], "SECRET  ")) // the changed rows...
	is.True(strings.HasPrefix(lines[1], "clichg-new  new "))
	is.Equal(len(lines), 6)                                // ...one, the gone apart, the summary and what changed
	is.True(strings.HasPrefix(lines[3], "clichg-stale  ")) // gone, listed apart
	is.True(strings.HasPrefix(lines[5], "since the previous run (run-"))
	is.True(strings.HasSuffix(lines[5], "): 1 new, 0 newly flagged, 0 resolved, 1 gone"))

	csv := out("report", "-all", "-format", "csv") // the checked secrets, then the gone one
	rows := strings.Split(strings.TrimSpace(csv), "\n")
	is.Equal(len(rows), 4)
	is.True(strings.HasPrefix(rows[3], "clichg-stale,,,")) // no status: not checked
	is.True(strings.Contains(rows[3], ",gone,"))
}
