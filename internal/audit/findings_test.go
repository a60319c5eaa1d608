package audit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/hubimport"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// fakeImporter is an Importer that keeps what each call sent and answers
// as ImportFn says (nil: every finding imported).
type fakeImporter struct {
	ImportFn func(fs []findings.SecurityFinding) (hubimport.Result, error)

	mu    sync.Mutex
	calls [][]findings.SecurityFinding
}

func (f *fakeImporter) Import(_ context.Context, fs []findings.SecurityFinding) (hubimport.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fs)
	f.mu.Unlock()
	if f.ImportFn == nil {
		return hubimport.Result{Imported: len(fs), Calls: 1}, nil
	}
	return f.ImportFn(fs)
}

// sent is every finding sent since the last call, by secret name, with
// the number of calls made.
func (f *fakeImporter) sent() (map[string]findings.SecurityFinding, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]findings.SecurityFinding{}
	for _, call := range f.calls {
		for _, x := range call {
			out[x.Resources[0].Details.AwsSecretsManagerSecret.Name] = x
		}
	}
	n := len(f.calls)
	f.calls = nil
	return out, n
}

func TestToImport(t *testing.T) {
	is := is.New(t)
	rows := []Record{
		{SecretName: "same", Change: tables.ChangeUnchanged},
		{SecretName: "new", Change: tables.ChangeNew},
		{SecretName: "flagged", Change: tables.ChangeNewlyFlagged},
		{SecretName: "resolved", Change: tables.ChangeResolved},
		{SecretName: "gone", Change: tables.ChangeGone},
		{SecretName: "old", Change: ""}, // a row from before rows carried a change
	}
	names := func(rs []Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.SecretName)
		}
		return out
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	is.Equal(names(toImport(rows, at, tables.NewRunID(at.Add(-time.Hour)))), []string{"new", "flagged", "resolved", "gone"}) // same UTC day: the changes only
	is.Equal(len(toImport(rows, at, tables.NewRunID(at.Add(-13*time.Hour)))), len(rows))                                     // the day's first run: all, to refresh them
	is.Equal(len(toImport(rows, at, "")), len(rows))                                                                         // no previous run: all
	midnight := time.Date(2026, 11, 26, 0, 0, 30, 0, time.UTC)
	is.Equal(len(toImport(rows, midnight, tables.NewRunID(midnight.Add(-time.Minute)))), len(rows)) // a minute, but across midnight UTC
}

// A run imports the findings of what changed, every finding on its UTC
// day's first run, and nothing when nothing changed.
func TestRunImportsWhatChanged(t *testing.T) {
	is := is.New(t)
	w := &world{secrets: []smtypes.SecretListEntry{
		secret("stale", 200*day, "Managed", "true"), secret("fresh", day, "Managed", "true"), secret("leaving", day, "Managed", "true"),
	}, calls: map[string]int{}}
	m := &memory{}
	c := sinceChecker(w, m)
	hub := &fakeImporter{}
	c.Findings = hub

	first := runAt(t, c, testNow)
	got, calls := hub.sent()
	is.Equal(first.FindingsImported, 3) // the first run: every secret
	is.Equal(calls, 1)
	is.Equal(got["stale"].Compliance.Status, findings.ComplianceFailed)
	is.Equal(got["fresh"].Compliance.Status, findings.CompliancePassed)
	is.Equal(got["stale"].AwsAccountId, "123456789012") // single-account: the secret's own account imports it
	is.Equal(got["stale"].ProductArn, findings.ProductARN("aws", "us-east-1", "123456789012"))
	_, named := got["stale"].ProductFields["rotation-audit/account_id"]
	is.True(!named)
	is.Equal(m.log.entries[len(m.log.entries)-1].FindingsImported, 3) // the run log says so

	second := runAt(t, c, testNow.Add(time.Hour))
	_, calls = hub.sent()
	is.Equal(calls, 0) // nothing changed, same day: no call at all
	is.Equal(second.FindingsImported, 0)

	later := testNow.Add(2 * time.Hour)
	w.edit("stale", func(s *smtypes.SecretListEntry) {
		s.LastRotatedDate, s.LastChangedDate = aws.Time(later.Add(-time.Minute)), aws.Time(later.Add(-time.Minute))
	})
	w.mu.Lock()
	w.secrets = slices.DeleteFunc(w.secrets, func(s smtypes.SecretListEntry) bool { return aws.ToString(s.Name) == "leaving" })
	w.mu.Unlock()
	third := runAt(t, c, later)
	got, _ = hub.sent()
	is.Equal(third.FindingsImported, 2) // the rotated and the gone one
	is.Equal(len(got), 2)
	is.Equal(got["stale"].Compliance.Status, findings.CompliancePassed)
	is.Equal(got["stale"].UpdatedAt, "2026-11-25T14:00:00.000Z") // newer than the first import's
	is.Equal(got["stale"].CreatedAt, "2026-11-25T12:00:00.000Z") // first seen
	is.Equal(got["leaving"].RecordState, findings.RecordArchived)

	nextDay := runAt(t, c, time.Date(2026, 11, 26, 0, 5, 0, 0, time.UTC))
	got, _ = hub.sent()
	is.Equal(nextDay.FindingsImported, 2) // the day's first run refreshes every standing finding
	is.Equal(len(got), 2)
}

// A Security Hub failure never costs the run: it stays complete, its rows
// are written, and the result and the run log say what failed and why.
func TestRunSurvivesAFailedImport(t *testing.T) {
	is := is.New(t)
	w := newWorld(5)
	m := &memory{}
	c := sinceChecker(w, m)
	denied := errors.New("batch import findings: 403 AccessDeniedException not authorized")
	c.Findings = &fakeImporter{ImportFn: func(fs []findings.SecurityFinding) (hubimport.Result, error) {
		return hubimport.Result{Imported: 2, Failed: len(fs) - 2, Calls: 1}, denied
	}}
	res := runAt(t, c, testNow) // no error
	is.Equal(res.Written, 5)
	is.Equal(len(m.records(t, res.RunID)), 5) // every row written
	is.Equal(res.FindingsImported, 2)
	is.Equal(res.FindingsFailed, 3)
	is.Equal(res.FindingsError, "import findings into Security Hub: "+denied.Error())
	entry := m.log.entries[len(m.log.entries)-1]
	is.True(entry.Complete) // the run is complete
	is.Equal([]int{entry.FindingsImported, entry.FindingsFailed}, []int{2, 3})
	is.Equal(entry.FindingsError, res.FindingsError)
}

// Without an importer (SECURITY_HUB_FINDINGS off) nothing is counted.
func TestRunWithoutFindings(t *testing.T) {
	is := is.New(t)
	m := &memory{}
	res := runAt(t, sinceChecker(newWorld(3), m), testNow)
	is.Equal([]any{res.FindingsImported, res.FindingsFailed, res.FindingsError}, []any{0, 0, ""})
}

// An organization unit imports its findings into the hub account's
// Security Hub (the member role may not import, and Security Hub takes a
// finding under the default product only from the account it names):
// AwsAccountId and ProductArn are the hub's, the resource is the member's
// secret. It writes no run log entry of its own, yet compares itself with
// the same unit of the previous complete run, which the coordinator
// logged: nothing changed the same day, nothing imported.
func TestUnitImportsIntoTheHub(t *testing.T) {
	is := is.New(t)
	member := func(name string, age time.Duration) smtypes.SecretListEntry {
		s := secret(name, age, "Managed", "true")
		s.ARN = aws.String("arn:aws:secretsmanager:eu-west-1:111111111111:secret:" + name + "-AbCdEf")
		return s
	}
	w := &world{secrets: []smtypes.SecretListEntry{member("db", 200*day), member("api", day)}, calls: map[string]int{}}
	m := &memory{}
	c := sinceChecker(w, m)
	c.Config.AccountID, c.Config.Region = "111111111111", "eu-west-1"
	c.Config.AuditedRegions = []string{"us-east-1", "eu-west-1"}
	c.Config.HubAccountID, c.Config.HubRegion = "000000000000", "us-east-1"
	c.Runs = nil // a unit's run entry is the coordinator's
	hub := &fakeImporter{}
	c.Findings = hub

	first := runAt(t, c, testNow)
	got, calls := hub.sent()
	is.Equal(first.FindingsImported, 2)
	is.Equal(calls, 1)
	db := got["db"]
	is.Equal(db.AwsAccountId, "000000000000") // the hub imports, as itself
	is.Equal(db.ProductArn, "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default")
	is.Equal(db.Region, "us-east-1")
	is.Equal(db.Resources[0].Id, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf") // the member's secret
	is.Equal(db.Resources[0].Region, "eu-west-1")
	is.Equal(db.ProductFields["rotation-audit/account_id"], "111111111111")
	is.Equal(db.Id, findings.ID("arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf")) // one finding per secret ARN
	is.Equal(db.Compliance.Status, findings.ComplianceFailed)
	is.Equal(len(m.log.entries), 0) // no run log entry of its own

	coordinatorCompletes(t, m, first)
	second := runAt(t, c, testNow.Add(time.Hour))
	is.Equal(second.PreviousRunID, first.RunID) // the unit read the previous run
	_, calls = hub.sent()
	is.Equal(calls, 0) // nothing changed, same UTC day: nothing imported
}

// coordinatorCompletes logs a run complete, as the organization
// coordinator's entry is once every unit has finished.
func coordinatorCompletes(t *testing.T, m *memory, res Result) {
	t.Helper()
	checked, err := time.Parse(time.RFC3339, res.CheckedAt)
	is.New(t).NoErr(err)
	item, err := attributevalue.MarshalMap(RunEntry{Month: tables.MonthOf(checked), RunID: res.RunID, CheckedAt: res.CheckedAt,
		Complete: true, CompleteKey: tables.CompleteValue, UnitsExpected: 1, UnitsDone: 1, Regions: "us-east-1,eu-west-1"})
	is.New(t).NoErr(err)
	_, err = m.log.put(context.Background(), &dynamodb.PutItemInput{Item: item})
	is.New(t).NoErr(err)
}
