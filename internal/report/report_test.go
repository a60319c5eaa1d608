package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// update rewrites the golden files: go test ./internal/report -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func intp(n int) *int { return &n }

var (
	sampleRun = audit.RunEntry{RunID: "run-1798370282000", CheckedAt: "2026-12-27T11:18:02Z", Checked: 4, Flagged: 2,
		Written: 4, Complete: true, DurationMS: 3, MaxAgeDays: 30, ScheduledTime: "2026-12-27T11:18:02Z"}
	sampleRows = []audit.Record{
		{SecretName: "payments-db", Status: audit.StatusNeedsRotation, Reason: audit.ReasonOlderThanMaxAge, AgeDays: intp(31),
			Basis: audit.BasisCurrentVersion, BasisDate: "2026-11-26T11:18:01Z", SecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:payments-db-AbCdEf",
			RunID: "run-1798370282000", CheckedAt: "2026-12-27T11:18:02Z", MaxAgeDays: 30, Unused: true},
		{SecretName: "legacy|token", Status: audit.StatusNeedsRotation, Reason: audit.ReasonOlderThanMaxAge, AgeDays: intp(200),
			Basis: audit.BasisLastChanged, BasisDate: "2026-06-10T00:00:00Z", SecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:legacy-token-AbCdEf",
			RunID: "run-1798370282000", CheckedAt: "2026-12-27T11:18:02Z", MaxAgeDays: 30},
		{SecretName: "api-key", Status: audit.StatusOK, Reason: audit.ReasonWithinMaxAge, AgeDays: intp(3), Basis: audit.BasisLastRotated,
			BasisDate: "2026-12-24T00:00:00Z", RotationEnabled: true, RotationIntervalDays: 20, NextRotationDate: "2027-01-13T00:00:00Z",
			SecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:api-key-AbCdEf", RunID: "run-1798370282000", CheckedAt: "2026-12-27T11:18:02Z", MaxAgeDays: 30},
		{SecretName: "rds-master", Status: audit.StatusOK, Reason: audit.ReasonOwnedByService, Basis: audit.BasisLastRotated,
			BasisDate: "2026-12-20T00:00:00Z", RotationEnabled: true, OwningService: "rds",
			SecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:rds-master-AbCdEf", RunID: "run-1798370282000", CheckedAt: "2026-12-27T11:18:02Z", MaxAgeDays: 30},
	}
)

func TestReportShowsTheFlaggedOldestFirst(t *testing.T) {
	is := is.New(t)
	r := NewReport("rotcheck", sampleRun, sampleRows, false)
	is.Equal(len(r.Rows), 2)
	is.Equal(r.Rows[0].SecretName, "legacy|token") // 200 days, then...
	is.Equal(r.Rows[1].SecretName, "payments-db")  // ...31
	all := NewReport("rotcheck", sampleRun, sampleRows, true)
	var names []string
	for _, row := range all.Rows {
		names = append(names, row.SecretName)
	}
	is.Equal(names, []string{"legacy|token", "payments-db", "api-key", "rds-master"}) // flagged first, oldest first, no-age last
}

func TestReportFormats(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReport(&buf, NewReport("rotcheck", sampleRun, sampleRows, true), f); err != nil {
				t.Fatal(err)
			}
			golden(t, "report."+f.Ext(), buf.Bytes())
		})
	}
	is := is.New(t)
	var buf bytes.Buffer
	is.NoErr(WriteReport(&buf, NewReport("rotcheck", sampleRun, sampleRows, false), CSV))
	header, _, _ := strings.Cut(buf.String(), "\n")
	is.True(strings.HasPrefix(header, "secret_name,status,reason,age_days,basis,basis_date,rotation_enabled,owning_service,secret_arn,run_id,checked_at")) // the documented columns, in order
}

// sampleHistory is a week with a missed day, a secret flagged twice, and
// runs missing on the day nothing ran.
func sampleHistory() History {
	day := func(d int) time.Time { return time.Date(2026, 10, d, 0, 0, 0, 0, time.UTC) }
	h := History{Stack: "rotcheck", From: day(1), To: day(8), Until: day(8), Schedule: "rate(1 hour)",
		Expected: 168, Recorded: 144, Gaps: []Gap{{From: day(4), To: day(4).Add(23 * time.Hour), Missing: 24}}, Manual: 1, Failed: 2,
		ScheduleCreated: day(1).AddDate(0, 0, -2), FirstComplete: day(1).AddDate(0, 0, -2).Add(time.Hour), Grace: DefaultTimeout}
	h.ControlStart = h.ScheduleCreated
	for d := 1; d <= 7; d++ {
		run := ""
		if d != 4 {
			run = tables.NewRunID(day(d).Add(23 * time.Hour))
		}
		h.Days = append(h.Days, Day{Date: day(d), RunID: run, Checked: 2, Flagged: 1})
	}
	n, f := audit.Status(""), audit.StatusNeedsRotation
	o := audit.StatusOK
	stale := SecretHistory{Name: "stale", Status: []audit.Status{f, f, o, n, f, f, f}}
	fresh := SecretHistory{Name: "fresh", Status: []audit.Status{o, o, o, n, o, o, o}}
	for _, sh := range []*SecretHistory{&stale, &fresh} {
		sh.summarize(h.Days, 6)
	}
	h.Secrets = []SecretHistory{stale, fresh}
	return h
}

// Flagged stretches, first and last days, and "flagged since" read a
// secret's days as an auditor would: a day without a run does not break a
// stretch, a day judged ok does.
func TestSummarize(t *testing.T) {
	is := is.New(t)
	h := sampleHistory()
	stale := h.Secrets[0]
	is.Equal(stale.DaysSeen, 6)
	is.Equal(stale.DaysFlagged, 5)
	is.Equal(stale.FirstFlagged, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	is.Equal(stale.LastFlagged, time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC))
	is.Equal(stale.LongestFlagged, 3) // the 5th to the 7th; the 4th had no run, the 3rd was ok
	is.True(stale.FlaggedNow)
	is.Equal(stale.FlaggedSince, time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC))
	fresh := h.Secrets[1]
	is.Equal(fresh.DaysFlagged, 0)
	is.True(!fresh.FlaggedNow)
	is.True(fresh.FlaggedSince.IsZero())
}

func TestHistoryFormats(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteHistory(&buf, sampleHistory(), f); err != nil {
				t.Fatal(err)
			}
			golden(t, "history."+f.Ext(), buf.Bytes())
		})
	}
}

func TestQuarter(t *testing.T) {
	is := is.New(t)
	from, to, err := Quarter("2026Q4")
	is.NoErr(err)
	is.Equal(from, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	is.Equal(to, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	is.Equal(QuarterOf(time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC)), "2027Q1")
	for _, bad := range []string{"2026Q5", "2026Q0", "Q4", "2026-Q4", "26Q4", ""} {
		_, _, err := Quarter(bad)
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "want YEARQn, such as 2026Q4"))
	}
}

func TestParseFormat(t *testing.T) {
	is := is.New(t)
	f, err := ParseFormat("md")
	is.NoErr(err)
	is.Equal(f, Markdown)
	_, err = ParseFormat("xml")
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "table, csv, json or markdown"))
}

func TestAgo(t *testing.T) {
	is := is.New(t)
	now := time.Date(2026, 10, 10, 12, 0, 0, 0, time.UTC)
	is.Equal(Ago(now.Add(-20*time.Second), now), "just now")
	is.Equal(Ago(now.Add(-time.Minute), now), "1 minute ago")
	is.Equal(Ago(now.Add(-5*time.Hour), now), "5 hours ago")
	is.Equal(Ago(now.Add(-72*time.Hour), now), "3 days ago")
}

// changedRun compares itself with a previous run: payments-db newly
// flagged, api-key resolved by a rotation, a new secret, a tag edit on
// legacy|token, and old-app gone.
var (
	changedRun = audit.RunEntry{RunID: "run-1798373882000", CheckedAt: "2026-12-27T12:18:02Z", Checked: 5, Flagged: 2,
		Written: 6, Complete: true, DurationMS: 3, MaxAgeDays: 30, PreviousRunID: "run-1798370282000",
		New: 1, NewlyFlagged: 1, Resolved: 1, Gone: 1}
	changedRows = func() []audit.Record {
		rows := []audit.Record{
			{SecretName: "payments-db", Status: audit.StatusNeedsRotation, Reason: audit.ReasonOlderThanMaxAge, AgeDays: intp(31),
				Basis: audit.BasisCurrentVersion, BasisDate: "2026-11-26T11:18:01Z", Change: tables.ChangeNewlyFlagged, ChangeMonth: "2026-12",
				FirstSeen: "2026-10-01T00:00:00Z"},
			{SecretName: "legacy|token", Status: audit.StatusNeedsRotation, Reason: audit.ReasonOlderThanMaxAge, AgeDays: intp(200),
				Basis: audit.BasisCurrentVersion, BasisDate: "2026-06-10T00:00:00Z", Change: tables.ChangeUnchanged, Changed: audit.ChangedMetadata,
				FirstSeen: "2026-10-01T00:00:00Z"},
			{SecretName: "api-key", Status: audit.StatusOK, Reason: audit.ReasonWithinMaxAge, AgeDays: intp(0), Basis: audit.BasisLastRotated,
				BasisDate: "2026-12-27T12:00:00Z", RotationEnabled: true, Change: tables.ChangeResolved, Changed: audit.ChangedRotation,
				ChangeMonth: "2026-12", FirstSeen: "2026-10-01T00:00:00Z"},
			{SecretName: "new-token", Status: audit.StatusOK, Reason: audit.ReasonWithinMaxAge, AgeDays: intp(0), Basis: audit.BasisCreated,
				BasisDate: "2026-12-27T12:10:00Z", Change: tables.ChangeNew, ChangeMonth: "2026-12", FirstSeen: "2026-12-27T12:18:02Z"},
			{SecretName: "quiet", Status: audit.StatusOK, Reason: audit.ReasonWithinMaxAge, AgeDays: intp(4), Basis: audit.BasisCreated,
				BasisDate: "2026-12-23T12:10:00Z", Change: tables.ChangeUnchanged, FirstSeen: "2026-12-23T13:00:00Z"},
			{SecretName: "old-app", Change: tables.ChangeGone, ChangeMonth: "2026-12", FirstSeen: "2026-10-01T00:00:00Z", MaxAgeDays: 30},
		}
		for i := range rows {
			rows[i].RunID, rows[i].CheckedAt = changedRun.RunID, changedRun.CheckedAt
		}
		return rows
	}()
)

// report -changes: only what changed, the news first, the gone apart;
// the plain report never lists a tombstone among the checked secrets.
func TestChangesReport(t *testing.T) {
	is := is.New(t)
	r := ChangesReport("rotcheck", changedRun, changedRows)
	var names []string
	for _, row := range r.Rows {
		names = append(names, row.SecretName)
	}
	is.Equal(names, []string{"payments-db", "new-token", "api-key", "legacy|token"}) // newly flagged, new, resolved, then a tag edit; not quiet
	is.Equal(len(r.Gone), 1)
	is.Equal(r.Gone[0].SecretName, "old-app")
	is.Equal(r.Since(), "since the previous run (run-1798370282000): 1 new, 1 newly flagged, 1 resolved, 1 gone")

	all := NewReport("rotcheck", changedRun, changedRows, true)
	is.Equal(len(all.Rows), 5) // every checked secret, not the gone one...
	is.Equal(len(all.Gone), 1) // ...which is apart

	first := audit.RunEntry{RunID: "run-1798370282000", Checked: 3, Flagged: 1, Complete: true, New: 3, NewFlagged: 1}
	is.Equal(NewReport("rotcheck", first, nil, false).Since(),
		"since the previous run: none, this is the first complete run of the stack, so all 3 are new (1 need rotation)")
	is.Equal(NewReport("rotcheck", sampleRun, nil, false).Since(), "") // a run from before the comparison says nothing

	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReport(&buf, r, f); err != nil {
				t.Fatal(err)
			}
			golden(t, "changes."+f.Ext(), buf.Bytes())
		})
	}
}

// Every format of the plain report says what changed and lists the gone
// secrets apart.
func TestReportSaysWhatChanged(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			is := is.New(t)
			var buf bytes.Buffer
			is.NoErr(WriteReport(&buf, NewReport("rotcheck", changedRun, changedRows, false), f))
			out := buf.String()
			switch f {
			case CSV:
				is.True(strings.Contains(out, "\nold-app,,,,,,false,,,run-1798373882000,2026-12-27T12:18:02Z,30,,,false,,false,,true,,gone,,2026-10-01T00:00:00Z,run-1798370282000,1,1,1,1\n")) // the tombstone, last, without a status
			case JSON:
				is.True(strings.Contains(out, `"since": "since the previous run (run-1798370282000): 1 new, 1 newly flagged, 1 resolved, 1 gone"`))
				is.True(strings.Contains(out, `"gone": [`))
			default:
				is.True(strings.Contains(strings.ToLower(out), "since the previous run (run-1798370282000): 1 new, 1 newly flagged, 1 resolved, 1 gone"))
				is.True(strings.Contains(out, "old-app"))
			}
		})
	}
}
