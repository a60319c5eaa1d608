package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

const (
	acctA  = "111111111111"
	acctB  = "222222222222"
	acctC  = "000000000000"
	denied = "assume arn:aws:iam::000000000000:role/rotation-audit-reader: api error AccessDenied: not authorized"
)

func arnOf(account, region, name string) string {
	return "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + name + "-AbCdEf"
}

// orgRow is an organization row: keyed by ARN, with its account and
// region.
func orgRow(runID, account, region, name string, st audit.Status, change string) fakeRow {
	r := fakeRow{Record: audit.Record{SecretName: name, SecretARN: arnOf(account, region, name), RunID: runID, Status: st,
		AccountID: account, Region: region, CheckedAt: "2026-10-01T12:00:00Z", AgeDays: intp(40), MaxAgeDays: 30}, Change: change}
	if tables.Changed(change) {
		r.ChangeMonth = "2026-10"
	}
	return r
}

// unitsOf are a run's units in us-east-1 and eu-west-1 of the accounts
// given, done, and of acctC, failed with AccessDenied.
func unitsOf(runID string, done ...string) []fakeUnit {
	var out []fakeUnit
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		for _, a := range done {
			out = append(out, fakeUnit{RunID: runID, Unit: Unit{Unit: tables.UnitOf(a, region), AccountID: a, Region: region, State: tables.UnitDone, Checked: 1, Flagged: 1}})
		}
		out = append(out, fakeUnit{RunID: runID, Unit: Unit{Unit: tables.UnitOf(acctC, region), AccountID: acctC, Region: region, State: tables.UnitFailed, Error: denied}})
	}
	return out
}

// orgStore is a hub's store on a fake of one complete organization run:
// db in acctA and in acctB, api-key in acctA's eu-west-1, acctC denied.
func orgStore() (*Store, *fakeLog, audit.RunEntry) {
	at := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	run := audit.RunEntry{Month: "2026-10", RunID: tables.NewRunID(at), CheckedAt: "2026-10-01T12:00:00Z", Complete: true, CompleteKey: tables.CompleteValue,
		Checked: 3, Flagged: 3, MaxAgeDays: 30, UnitsExpected: 6, UnitsDone: 6, UnitsFailed: 2, Accounts: 3, Regions: "us-east-1,eu-west-1", Replicas: 1}
	f := &fakeLog{rows: map[string][]fakeRow{run.RunID: {
		orgRow(run.RunID, acctA, "us-east-1", "db", audit.StatusNeedsRotation, tables.ChangeNew),
		orgRow(run.RunID, acctB, "us-east-1", "db", audit.StatusNeedsRotation, tables.ChangeNew),
		orgRow(run.RunID, acctA, "eu-west-1", "api-key", audit.StatusNeedsRotation, tables.ChangeNew),
	}}, units: unitsOf(run.RunID, acctA, acctB)}
	f.runs = []loggedRun{{RunEntry: run}}
	return &Store{DB: f, Table: "hub-audit", RunsTable: "hub-runs", OrgTable: "hub-org-audit", UnitsTable: "hub-units"}, f, run
}

// An organization run is told by its run log entry, and its rows, units
// and one account's rows come from the hub's organization tables.
func TestStoreReadsAnOrganizationRun(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s, f, run := orgStore()
	single := s.ForRun(audit.RunEntry{RunID: run.RunID})
	is.True(!single.Org) // a run without units is a single-account run
	_, err := single.Units(ctx, run.RunID)
	is.True(errors.Is(err, ErrNotOrganization)) // a single-account run has no units

	org := s.ForRun(run)
	is.True(org.Org)
	rows, err := org.Rows(ctx, run.RunID)
	is.NoErr(err)
	is.Equal(len(rows), 3)
	mine, err := org.AccountRows(ctx, acctB, run.RunID)
	is.NoErr(err)
	is.Equal(len(mine), 1) // acctB's db only
	is.Equal(mine[0].AccountID, acctB)
	units, err := org.Units(ctx, run.RunID)
	is.NoErr(err)
	is.Equal(len(units), 6)
	is.Equal(f.asked, []string{"hub-org-audit/" + tables.RunIndex, "hub-org-audit/" + tables.AccountIndex, "hub-units/"}) // never the single-account table
}

// orgReport is the report of orgStore's run, every secret.
func orgReport(t *testing.T, account string) Report {
	t.Helper()
	s, _, run := orgStore()
	org := s.ForRun(run)
	ctx := context.Background()
	rows, err := org.Rows(ctx, run.RunID)
	if account != "" {
		rows, err = org.AccountRows(ctx, account, run.RunID)
	}
	if err != nil {
		t.Fatal(err)
	}
	units, err := org.Units(ctx, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReport("hub", run, rows, true)
	if r.Org, err = NewOrganization(units, account); err != nil {
		t.Fatal(err)
	}
	return r
}

func render(t *testing.T, r Report, f Format) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteReport(&b, r, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Two secrets named db in two accounts are two rows, each with its
// account and region, in every format; the CSV appends them after the
// documented columns; the account not reporting is listed with why.
func TestOrganizationReportInEveryFormat(t *testing.T) {
	is := is.New(t)
	r := orgReport(t, "")
	is.Equal(len(r.Org.NotReporting()), 1)
	is.Equal(r.Org.NotReporting()[0].AccountID, acctC)
	is.Equal(r.Org.NotReporting()[0].Reason(), "eu-west-1, us-east-1: "+denied) // one reason, both regions

	records, err := csv.NewReader(strings.NewReader(render(t, r, CSV))).ReadAll()
	is.NoErr(err)
	is.Equal(records[0], slices.Concat(ReportColumns, OrgReportColumns)) // today's columns first, as documented
	col := func(rec []string, name string) string { return rec[slices.Index(records[0], name)] }
	var dbs []string
	var missing []string
	for _, rec := range records[1:] {
		if col(rec, "secret_name") == "db" {
			dbs = append(dbs, col(rec, "account_id")+"/"+col(rec, "region")+"/"+col(rec, "unit_state"))
		}
		if col(rec, "secret_name") == "" {
			missing = append(missing, col(rec, "account_id")+"/"+col(rec, "region")+"/"+col(rec, "unit_state")+"/"+col(rec, "unit_error"))
		}
	}
	slices.Sort(dbs)
	is.Equal(dbs, []string{acctA + "/us-east-1/done", acctB + "/us-east-1/done"})                             // one name, two rows
	is.Equal(missing, []string{acctC + "/eu-west-1/failed/" + denied, acctC + "/us-east-1/failed/" + denied}) // each unit not done, with its error

	var doc struct {
		Secrets []audit.Record `json:"secrets"`
		Run     struct {
			UnitsFailed *int `json:"units_failed"`
		} `json:"run"`
		Organization struct {
			Accounts     []accountJSON `json:"accounts"`
			NotReporting []accountJSON `json:"not_reporting"`
		} `json:"organization"`
	}
	is.NoErr(json.Unmarshal([]byte(render(t, r, JSON)), &doc))
	is.Equal(len(doc.Secrets), 3)
	for _, s := range doc.Secrets {
		is.True(s.AccountID != "" && s.Region != "") // every row placed
	}
	is.True(doc.Run.UnitsFailed != nil && *doc.Run.UnitsFailed == 2)
	is.Equal(len(doc.Organization.Accounts), 3)
	is.Equal(doc.Organization.NotReporting[0].AccountID, acctC)
	is.True(strings.Contains(doc.Organization.NotReporting[0].Reason, "AccessDenied"))

	table := render(t, r, Table)
	is.True(strings.HasPrefix(table, "ACCOUNT       REGION     SECRET")) // account and region first
	is.True(strings.Contains(table, acctB+"  us-east-1  db"))
	is.True(strings.Contains(table, "ACCOUNTS NOT REPORTING"))
	is.True(regexp.MustCompile(acctC + ` +eu-west-1, us-east-1: ` + regexp.QuoteMeta(denied)).MatchString(table)) // the account, why
	is.True(strings.Contains(table, "3 accounts, 6 units, 2 failed: 1 account not reporting"))                    // the summary says so

	md := render(t, r, Markdown)
	is.True(strings.Contains(md, "| Account | Region | Secret |"))
	is.True(strings.Contains(md, "## Accounts not reporting"))
	is.True(strings.Contains(md, "| "+acctC+" | eu-west-1, us-east-1: "))
	is.True(strings.Contains(r.NotReportingLine(), "1 account not reporting"))
}

// -account: one account's rows, and its own counts from its units.
func TestOrganizationReportOfOneAccount(t *testing.T) {
	is := is.New(t)
	r := orgReport(t, acctA)
	is.Equal(len(r.Rows), 2)
	checked, flagged := r.Counts()
	is.Equal([]int{checked, flagged}, []int{2, 2}) // acctA's two units, not the run's
	is.Equal(r.NotReportingLine(), "")             // acctA reports
	is.True(strings.Contains(r.Summary(), "account "+acctA+" at"))

	s, _, run := orgStore()
	units, err := s.ForRun(run).Units(context.Background(), run.RunID)
	is.NoErr(err)
	_, err = NewOrganization(units, "999999999999")
	is.True(errors.Is(err, ErrNoSuchAccount)) // an account the run did not expect
	denied, err := NewOrganization(units, acctC)
	is.NoErr(err)
	is.Equal(len(denied.NotReporting()), 1)
}

func TestUnitReasonDropsTheSDKDetails(t *testing.T) {
	is := is.New(t)
	raw := "assume arn:aws:iam::000000000000:role/r: operation error STS: AssumeRole, https response error StatusCode: 403, RequestID: 1f, api error AccessDenied: not authorized"
	is.Equal(UnitReason(raw), "assume arn:aws:iam::000000000000:role/r: AccessDenied: not authorized")
	is.Equal(UnitReason("list secrets: throttled\nagain"), "list secrets: throttled; again") // one line
}

func TestValidAccount(t *testing.T) {
	is := is.New(t)
	is.NoErr(ValidAccount("111111111111"))
	for _, bad := range []string{"", "11111111111", "1111111111111", "11111111111a", "-11111111111"} {
		err := ValidAccount(bad)
		is.True(err != nil)                                 // not twelve digits
		is.True(strings.Contains(err.Error(), "12 digits")) // says what is wanted
	}
}

// A row without its account (a tombstone written before they carried
// one) is placed by its ARN.
func TestWhereReadsTheARN(t *testing.T) {
	is := is.New(t)
	account, region := Where(audit.Record{SecretARN: arnOf(acctB, "eu-west-1", "db")})
	is.Equal(account+"/"+region, acctB+"/eu-west-1")
	account, region = Where(audit.Record{SecretARN: arnOf(acctB, "eu-west-1", "db"), AccountID: acctA, Region: "us-east-1"})
	is.Equal(account+"/"+region, acctA+"/us-east-1") // its own first
}

// runs: an organization run shows its units in every format; a log of
// single-account runs is as before.
func TestRunsShowUnits(t *testing.T) {
	is := is.New(t)
	_, _, run := orgStore()
	single := audit.RunEntry{RunID: "run-1", Complete: true}
	var b bytes.Buffer
	is.NoErr(WriteRuns(&b, []audit.RunEntry{single}, CSV))
	is.Equal(strings.SplitN(b.String(), "\n", 2)[0], strings.Join(RunColumns, ",")) // unchanged
	b.Reset()
	is.NoErr(WriteRuns(&b, []audit.RunEntry{single}, Table))
	is.True(!strings.Contains(b.String(), "UNITS"))

	b.Reset()
	is.NoErr(WriteRuns(&b, []audit.RunEntry{single, run}, CSV))
	records, err := csv.NewReader(&b).ReadAll()
	is.NoErr(err)
	is.Equal(records[0], slices.Concat(RunColumns, RunOrgColumns))
	is.Equal(records[2][len(RunColumns):], []string{"6", "6", "2", "3"})
	is.Equal(records[1][len(RunColumns):], []string{"", "", "", ""}) // not an organization run
	for _, f := range []Format{Table, Markdown} {
		b.Reset()
		is.NoErr(WriteRuns(&b, []audit.RunEntry{run}, f))
		is.True(strings.Contains(b.String(), "6 of 6, 2 failed")) // units_failed shown
	}
	b.Reset()
	is.NoErr(WriteRuns(&b, []audit.RunEntry{run}, JSON))
	is.True(strings.Contains(b.String(), `"units_failed": 2`))
}

// An organization's history keys secrets by ARN (db in two accounts is
// two secrets), reads the changes from the organization table's by-change
// index, and leaves a secret unseen on a day its account did not report:
// the write side then compares the next run's unit with its last done
// run, so the secret comes back unchanged, with the status it kept.
func TestOrganizationHistory(t *testing.T) {
	is := is.New(t)
	day := func(d int) time.Time { return time.Date(2026, 10, d, 12, 0, 0, 0, time.UTC) }
	zero := 0
	f := &fakeLog{rows: map[string][]fakeRow{}}
	for d := 1; d <= 3; d++ {
		e := scheduled(day(d))
		e.CompleteKey, e.Regions, e.UnitsExpected, e.UnitsDone = tables.CompleteValue, "us-east-1", 2, 2
		if d == 2 {
			e.UnitsFailed = 1
		}
		f.runs = append(f.runs, loggedRun{RunEntry: e, New: &zero})
	}
	id := func(d int) string { return f.runs[d-1].RunID }
	f.rows[id(1)] = []fakeRow{
		orgRow(id(1), acctA, "us-east-1", "db", audit.StatusOK, tables.ChangeNew),
		orgRow(id(1), acctB, "us-east-1", "db", audit.StatusNeedsRotation, tables.ChangeNew),
	}
	f.rows[id(2)] = []fakeRow{orgRow(id(2), acctA, "us-east-1", "db", audit.StatusOK, tables.ChangeUnchanged)}
	f.rows[id(3)] = []fakeRow{
		orgRow(id(3), acctA, "us-east-1", "db", audit.StatusOK, tables.ChangeUnchanged),
		orgRow(id(3), acctB, "us-east-1", "db", audit.StatusNeedsRotation, tables.ChangeUnchanged), // compared with day 1, its last done run
	}
	f.units = []fakeUnit{
		{RunID: id(2), Unit: Unit{Unit: tables.UnitOf(acctA, "us-east-1"), AccountID: acctA, Region: "us-east-1", State: tables.UnitDone}},
		{RunID: id(2), Unit: Unit{Unit: tables.UnitOf(acctB, "us-east-1"), AccountID: acctB, Region: "us-east-1", State: tables.UnitFailed, Error: "AccessDenied"}},
	}
	s := &Store{DB: f, Table: "hub-audit", RunsTable: "hub-runs", OrgTable: "hub-org-audit", UnitsTable: "hub-units"}
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	h, err := BuildHistory(context.Background(), s, "hub", from, from.AddDate(0, 0, 3), from.AddDate(0, 0, 3),
		Schedule{Expression: "rate(1 day)", CreationDate: from})
	is.NoErr(err)
	is.True(h.Org) // told by the run log
	is.Equal(len(h.Secrets), 2)
	byAccount := map[string]SecretHistory{}
	for _, sh := range h.Secrets {
		is.Equal(sh.Name, "db")
		is.Equal(sh.ARN, arnOf(sh.AccountID, "us-east-1", "db"))
		byAccount[sh.AccountID] = sh
	}
	ok, nr := audit.StatusOK, audit.StatusNeedsRotation
	is.Equal(byAccount[acctA].Status, []audit.Status{ok, ok, ok})
	is.Equal(byAccount[acctB].Status, []audit.Status{nr, "", nr}) // not reporting on day 2: unseen, its status kept for day 3
	is.True(slices.Contains(f.asked, "hub-org-audit/"+tables.ChangeIndex))
	is.True(slices.Contains(f.asked, "hub-units/")) // day 2's units, once
	is.True(!slices.ContainsFunc(f.asked, func(a string) bool { return strings.HasPrefix(a, "hub-audit/") }))

	var b bytes.Buffer
	is.NoErr(WriteHistory(&b, h, CSV))
	records, err := csv.NewReader(&b).ReadAll()
	is.NoErr(err)
	is.Equal(records[0], slices.Concat(HistoryColumns, HistoryOrgColumns)) // appended after today's columns
	is.Equal(len(records), 3)                                              // one line per secret ARN
	b.Reset()
	is.NoErr(WriteHistory(&b, h, Table))
	is.True(strings.Contains(b.String(), "ACCOUNT"))

	is.NoErr(h.ForAccount(acctB))
	is.Equal(len(h.Secrets), 1)
	is.Equal(h.Secrets[0].AccountID, acctB)
	is.Equal([]int{h.Days[0].Checked, h.Days[1].Checked, h.Days[2].Flagged}, []int{1, 0, 1}) // the account's, not the run log's
	is.True(strings.Contains(h.Period(), "account "+acctB))
	is.True(errors.Is(h.ForAccount("999999999999"), ErrNoSuchAccount))
}

// orgDays is an organization hub's store with the runs given (each a day
// of October 2026 and an hour, one region, two units), and the units of
// those with a unit failed: acctB's.
func orgDays(runs ...[2]int) (*fakeLog, func(int) string) {
	zero := 0
	f := &fakeLog{rows: map[string][]fakeRow{}}
	for _, r := range runs {
		at := time.Date(2026, 10, r[0], r[1], 0, 0, 0, time.UTC)
		e := manual(at)
		if r[1] == 12 {
			e = scheduled(at)
		}
		e.CompleteKey, e.Regions, e.UnitsExpected, e.UnitsDone = tables.CompleteValue, "us-east-1", 2, 2
		f.runs = append(f.runs, loggedRun{RunEntry: e, New: &zero})
	}
	return f, func(i int) string { return f.runs[i].RunID }
}

// failUnit marks acctB's unit failed in run i.
func failUnit(f *fakeLog, i int) {
	f.runs[i].UnitsFailed = 1
	id := f.runs[i].RunID
	f.units = append(f.units,
		fakeUnit{RunID: id, Unit: Unit{Unit: tables.UnitOf(acctA, "us-east-1"), AccountID: acctA, Region: "us-east-1", State: tables.UnitDone}},
		fakeUnit{RunID: id, Unit: Unit{Unit: tables.UnitOf(acctB, "us-east-1"), AccountID: acctB, Region: "us-east-1", State: tables.UnitFailed, Error: "throttled"}})
}

// orgHistory is the three days' history of f, by secret name (acctB's).
func orgHistory(t *testing.T, f *fakeLog) map[string][]audit.Status {
	t.Helper()
	return orgPeriod(t, f, 1, 3)
}

// A manual run at 06:00 in which acctB's unit failed, before the day's
// scheduled run: x was deleted before it. The 12:00 run compares acctB
// with day 1, its last done run, so x's tombstone is in the 12:00 run's
// changes, and x is gone from day 2 on.
func TestOrganizationHistoryAfterAFailedManualRun(t *testing.T) {
	is := is.New(t)
	f, id := orgDays([2]int{1, 12}, [2]int{2, 6}, [2]int{2, 12}, [2]int{3, 12})
	failUnit(f, 1)
	ok := audit.StatusOK
	f.rows[id(0)] = []fakeRow{
		orgRow(id(0), acctA, "us-east-1", "db", ok, tables.ChangeNew),
		orgRow(id(0), acctB, "us-east-1", "db", ok, tables.ChangeNew),
		orgRow(id(0), acctB, "us-east-1", "x", ok, tables.ChangeNew),
	}
	f.rows[id(1)] = []fakeRow{orgRow(id(1), acctA, "us-east-1", "db", ok, tables.ChangeUnchanged)}
	for _, i := range []int{2, 3} {
		f.rows[id(i)] = []fakeRow{
			orgRow(id(i), acctA, "us-east-1", "db", ok, tables.ChangeUnchanged),
			orgRow(id(i), acctB, "us-east-1", "db", ok, tables.ChangeUnchanged),
		}
	}
	gone := orgRow(id(2), acctB, "us-east-1", "x", "", tables.ChangeGone)
	f.rows[id(2)] = append(f.rows[id(2)], gone)
	got := orgHistory(t, f)
	is.Equal(got["x"], []audit.Status{ok, "", ""}) // buried by the 12:00 run
	is.Equal(got["db"], []audit.Status{ok, ok, ok})
	is.True(!slices.Contains(f.asked, "hub-units/")) // the 06:00 run judges no day: its units are not read
}

// acctB's unit fails on day 2 after writing x's row (flagged now), not
// y's. Day 2 shows neither; day 3's run compares acctB with day 1
// overlaid with what day 2's attempt wrote, so both are unchanged, and
// day 3 shows them with the status they kept.
func TestOrganizationHistoryAfterAPartialUnit(t *testing.T) {
	is := is.New(t)
	f, id := orgDays([2]int{1, 12}, [2]int{2, 12}, [2]int{3, 12})
	failUnit(f, 1)
	ok, nr := audit.StatusOK, audit.StatusNeedsRotation
	f.rows[id(0)] = []fakeRow{
		orgRow(id(0), acctB, "us-east-1", "x", ok, tables.ChangeNew),
		orgRow(id(0), acctB, "us-east-1", "y", ok, tables.ChangeNew),
	}
	f.rows[id(1)] = []fakeRow{orgRow(id(1), acctB, "us-east-1", "x", nr, tables.ChangeNewlyFlagged)}
	f.rows[id(2)] = []fakeRow{
		orgRow(id(2), acctB, "us-east-1", "x", nr, tables.ChangeUnchanged),
		orgRow(id(2), acctB, "us-east-1", "y", ok, tables.ChangeUnchanged),
	}
	got := orgHistory(t, f)
	is.Equal(got["x"], []audit.Status{ok, "", nr}) // day 2 not reporting; flagged since the partial attempt
	is.Equal(got["y"], []audit.Status{ok, "", ok})
}
