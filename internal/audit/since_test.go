package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// memory is the audit table and the run log in memory, behind a
// fakeTable: it keeps the rows BatchWriteItem writes (a row rewritten
// under its key replaces the old one) and the entries PutItem writes, and
// answers the two Queries a run makes of them, projecting as asked, in
// pages of pageSize items (0: one page). It counts the Queries of the
// audit table and the items they return.
type memory struct {
	log      runLog
	pageSize int

	mu      sync.Mutex
	rows    map[string]map[string]map[string]dbtypes.AttributeValue // run ID -> secret name -> item
	queries int
	items   int
	fail    error // the answer of a Query of the audit table
}

func (m *memory) table() *fakeTable {
	return &fakeTable{
		BatchWriteItemFn: func(_ context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.rows == nil {
				m.rows = map[string]map[string]map[string]dbtypes.AttributeValue{}
			}
			for _, w := range in.RequestItems["audit"] {
				item := w.PutRequest.Item
				run := item[tables.RunID].(*dbtypes.AttributeValueMemberS).Value
				if m.rows[run] == nil {
					m.rows[run] = map[string]map[string]dbtypes.AttributeValue{}
				}
				m.rows[run][item[tables.SecretName].(*dbtypes.AttributeValueMemberS).Value] = item
			}
			return &dynamodb.BatchWriteItemOutput{}, nil
		},
		PutItemFn: m.log.put,
		QueryFn: func(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
			if aws.ToString(in.TableName) == "runs" {
				return m.log.latestBefore(ctx, in)
			}
			return m.runRows(in)
		},
	}
}

// runRows answers a Query of the by-run index, in secret name order.
func (m *memory) runRows(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queries++
	if m.fail != nil {
		return nil, m.fail
	}
	index := aws.ToString(in.IndexName)
	if index != tables.RunIndex && index != tables.AccountIndex {
		return nil, fmt.Errorf("the audit table has no index %q", index)
	}
	run := m.rows[runIDIn(in)]
	names := slices.Sorted(maps.Keys(run))
	if index == tables.AccountIndex {
		// the organization table's by-account index: the account's rows
		var account string
		for _, v := range in.ExpressionAttributeValues {
			if s, ok := v.(*dbtypes.AttributeValueMemberS); ok && !strings.HasPrefix(s.Value, "run-") {
				account = s.Value
			}
		}
		names = slices.DeleteFunc(names, func(n string) bool {
			a, _ := run[n][tables.AccountID].(*dbtypes.AttributeValueMemberS)
			return a == nil || a.Value != account
		})
	}
	if start, ok := in.ExclusiveStartKey[tables.SecretName].(*dbtypes.AttributeValueMemberS); ok {
		i, _ := slices.BinarySearch(names, start.Value)
		names = names[i+1:]
	}
	out := &dynamodb.QueryOutput{}
	if m.pageSize > 0 && len(names) > m.pageSize {
		names = names[:m.pageSize]
		out.LastEvaluatedKey = map[string]dbtypes.AttributeValue{tables.SecretName: &dbtypes.AttributeValueMemberS{Value: names[len(names)-1]}}
	}
	projected := map[string]bool{}
	for _, p := range strings.Split(aws.ToString(in.ProjectionExpression), ", ") {
		projected[in.ExpressionAttributeNames[p]] = true
	}
	for _, name := range names {
		item := map[string]dbtypes.AttributeValue{}
		for k, v := range run[name] {
			if projected[k] {
				item[k] = v
			}
		}
		out.Items = append(out.Items, item)
	}
	m.items += len(out.Items)
	return out, nil
}

// records are the rows of one run, sorted by secret name.
func (m *memory) records(t *testing.T, runID string) map[string]Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Record{}
	for name, item := range m.rows[runID] {
		var rec Record
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			t.Fatal(err)
		}
		out[name] = rec
	}
	return out
}

// world is a population of listed secrets that tests change between runs,
// with the lookups it answers counted per secret.
type world struct {
	mu       sync.Mutex
	secrets  []smtypes.SecretListEntry
	versions map[string]time.Time // the AWSCURRENT version's date, by name
	calls    map[string]int
}

func (w *world) client() *fakeSecrets {
	return &fakeSecrets{
		ListSecretsFn: func(ctx context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
			w.mu.Lock()
			list := slices.Clone(w.secrets)
			w.mu.Unlock()
			return paged(list, nil).ListSecretsFn(ctx, in)
		},
		ListSecretVersionIdsFn: func(_ context.Context, in *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			arn := aws.ToString(in.SecretId)
			name := strings.TrimSuffix(arn[strings.LastIndex(arn, ":")+1:], "-AbCdEf")
			w.calls[name]++
			return &secretsmanager.ListSecretVersionIdsOutput{Versions: []smtypes.SecretVersionsListEntry{
				{VersionId: aws.String("cur"), VersionStages: []string{"AWSCURRENT"}, CreatedDate: aws.Time(w.versions[name])},
			}}, nil
		},
	}
}

// edit changes the listed secret name.
func (w *world) edit(name string, f func(s *smtypes.SecretListEntry)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.secrets {
		if aws.ToString(w.secrets[i].Name) == name {
			f(&w.secrets[i])
		}
	}
}

// lookups returns the lookups made since the last call, by secret.
func (w *world) lookups() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	calls := w.calls
	w.calls = map[string]int{}
	return calls
}

// newWorld is old secrets, created 300 days before testNow, whose tags
// were edited an hour before it: each needs its value's date, 40 days old
// (flagged) for even i, a day old for odd.
func newWorld(n int) *world {
	w := &world{versions: map[string]time.Time{}, calls: map[string]int{}}
	for i := range n {
		s := secret(fmt.Sprintf("edited-%03d", i), 300*day, "Managed", "true")
		s.LastChangedDate = aws.Time(testNow.Add(-time.Hour))
		w.secrets = append(w.secrets, s)
		w.versions[aws.ToString(s.Name)] = testNow.Add(-map[bool]time.Duration{true: 40 * day, false: day}[i%2 == 0])
	}
	return w
}

// runAt runs c as the scheduler would at t.
func runAt(t *testing.T, c *Checker, at time.Time) Result {
	t.Helper()
	c.Now = func() time.Time { return at }
	res, err := c.Run(context.Background(), Event{ScheduledTime: at})
	if err != nil {
		t.Fatalf("run at %s: %v", at, err)
	}
	return res
}

func sinceChecker(w *world, m *memory) *Checker {
	c := newTestChecker(w.client(), m.table(), nil)
	c.Config.RunsTableName = "runs"
	return c
}

// The acceptance on the write side, with fakes: a second run with nothing
// changed makes no ListSecretVersionIds call and says unchanged on every
// row; after one value put by hand it makes exactly one, and that row
// says what changed; a tag edit costs its lookup and says metadata.
func TestSecondRunReusesTheValueAge(t *testing.T) {
	is := is.New(t)
	w := newWorld(10)
	m := &memory{pageSize: 3} // the previous run's rows come in pages
	c := sinceChecker(w, m)

	first := runAt(t, c, testNow)
	is.Equal(len(w.lookups()), 10) // the first run looks every value up
	is.Equal(first.PreviousRunID, "")
	is.Equal(first.New, 10) // and every secret is new
	is.Equal(first.NewFlagged, 5)

	second := runAt(t, c, testNow.Add(time.Hour))
	is.Equal(w.lookups(), map[string]int{}) // nothing changed: no lookup
	is.Equal(second.PreviousRunID, first.RunID)
	is.Equal(second.LookedUp, 0)
	is.Equal(m.queries, 4) // the first run's 10 rows, in pages of 3
	is.Equal(m.items, 10)  // each read once
	is.Equal([]int{second.New, second.NewlyFlagged, second.Resolved, second.Gone}, []int{0, 0, 0, 0})
	is.Equal(second.Flagged, 5)
	rows := m.records(t, second.RunID)
	for name, r := range rows {
		is.Equal(r.Change, tables.ChangeUnchanged) // every row unchanged...
		is.Equal(r.Changed, "")                    // ...nothing moved...
		is.Equal(r.ChangeMonth, "")                // ...so none in the change index
		is.Equal(r.Basis, BasisCurrentVersion)     // the value's date, reused
		is.Equal(r.FirstSeen, first.CheckedAt)     // carried from the first run
		is.Equal(r.BasisDate, m.records(t, first.RunID)[name].BasisDate)
	}

	// A value put by hand on a flagged secret, a tag edit on an ok one.
	third := testNow.Add(2 * time.Hour)
	w.edit("edited-000", func(s *smtypes.SecretListEntry) { s.LastChangedDate = aws.Time(third.Add(-time.Minute)) })
	w.versions["edited-000"] = third.Add(-time.Minute)
	w.edit("edited-001", func(s *smtypes.SecretListEntry) { s.LastChangedDate = aws.Time(third.Add(-time.Minute)) })
	res := runAt(t, c, third)
	is.Equal(w.lookups(), map[string]int{"edited-000": 1, "edited-001": 1}) // exactly the two changed
	rows = m.records(t, res.RunID)
	is.Equal(rows["edited-000"].Change, tables.ChangeResolved) // its new value is fresh
	is.Equal(rows["edited-000"].Changed, ChangedValue)         // and the row says why
	is.Equal(rows["edited-000"].ChangeMonth, "2026-11")
	is.Equal(rows["edited-001"].Change, tables.ChangeUnchanged) // a tag edit keeps the value...
	is.Equal(rows["edited-001"].Changed, ChangedMetadata)       // ...and says so
	is.Equal(rows["edited-001"].ChangeMonth, "")
	is.Equal(rows["edited-002"].Changed, "")
	is.Equal(res.Resolved, 1)
	is.Equal(res.Flagged, 4)
}

// Newly flagged, resolved, new and gone are counted in the result and the
// run log; a gone secret gets a tombstone (no status, not checked), and
// only the changed rows carry the change index's key.
func TestRunCountsWhatChanged(t *testing.T) {
	is := is.New(t)
	aging := secret("aging", 29*day, "Managed", "true") // ok now, flagged in two days
	rotated := secret("rotated", 200*day, "Managed", "true")
	leaving := secret("leaving", 200*day, "Managed", "true")
	untagged := secret("untagged", 5*day, "Managed", "true")
	w := &world{secrets: []smtypes.SecretListEntry{aging, rotated, leaving, untagged}, calls: map[string]int{}}
	m := &memory{}
	c := sinceChecker(w, m)
	first := runAt(t, c, testNow)
	is.Equal(first.Flagged, 2) // rotated and leaving, 200 days old

	later := testNow.Add(2 * day)
	w.edit("rotated", func(s *smtypes.SecretListEntry) {
		s.LastRotatedDate, s.LastChangedDate = aws.Time(later.Add(-time.Hour)), aws.Time(later.Add(-time.Hour))
	})
	w.edit("untagged", func(s *smtypes.SecretListEntry) { s.Tags = nil }) // no longer audited
	w.mu.Lock()
	w.secrets = slices.DeleteFunc(w.secrets, func(s smtypes.SecretListEntry) bool { return aws.ToString(s.Name) == "leaving" })
	w.secrets = append(w.secrets, secret("arriving", 100*day, "Managed", "true"))
	w.mu.Unlock()
	res := runAt(t, c, later)

	is.Equal(res.Checked, 3) // aging, rotated, arriving: not the gone ones
	is.Equal(res.Written, 5) // and the two tombstones
	is.Equal([]int{res.New, res.NewFlagged, res.NewlyFlagged, res.Resolved, res.Gone}, []int{1, 1, 1, 1, 2})
	entry := m.log.entries[len(m.log.entries)-1]
	is.Equal([]int{entry.New, entry.NewFlagged, entry.NewlyFlagged, entry.Resolved, entry.Gone}, []int{1, 1, 1, 1, 2}) // the run log says the same
	is.Equal(entry.PreviousRunID, first.RunID)

	rows := m.records(t, res.RunID)
	is.Equal(rows["aging"].Change, tables.ChangeNewlyFlagged)
	is.Equal(rows["aging"].Changed, "") // it only grew older
	is.Equal(rows["rotated"].Change, tables.ChangeResolved)
	is.Equal(rows["rotated"].Changed, ChangedRotation)
	is.Equal(rows["arriving"].Change, tables.ChangeNew)
	is.Equal(rows["arriving"].FirstSeen, res.CheckedAt) // first seen now
	is.Equal(rows["aging"].FirstSeen, first.CheckedAt)  // carried
	for _, name := range []string{"leaving", "untagged"} {
		is.Equal(rows[name], Record{SecretName: name, RunID: res.RunID, CheckedAt: res.CheckedAt, MaxAgeDays: 30,
			SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf", // its finding's ID
			Change:    tables.ChangeGone, ChangeMonth: "2026-11", FirstSeen: first.CheckedAt,
			ExpiresAt: later.Add(400 * day).Unix()}) // a tombstone: no status, no basis
	}
	for name, r := range rows {
		is.Equal(r.ChangeMonth != "", tables.Changed(r.Change)) // only changed rows are in the change index
		_ = name
	}

	// The run after: the tombstones are not secrets of the previous run,
	// so the gone secrets are not gone again.
	again := runAt(t, c, later.Add(time.Hour))
	is.Equal([]int{again.New, again.NewlyFlagged, again.Resolved, again.Gone}, []int{0, 0, 0, 0})
	is.Equal(again.Written, 3)
}

// A failed run is never the baseline: the run after it compares itself
// with the last complete run.
func TestBaselineIsTheLastCompleteRun(t *testing.T) {
	is := is.New(t)
	w := &world{secrets: []smtypes.SecretListEntry{secret("a", 40*day, "Managed", "true")}, calls: map[string]int{}}
	m := &memory{}
	c := sinceChecker(w, m)
	first := runAt(t, c, testNow)

	table := m.table()
	table.BatchWriteItemFn = func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		return nil, errors.New("AccessDeniedException: not allowed")
	}
	failing := newTestChecker(w.client(), table, nil)
	failing.Config.RunsTableName = "runs"
	_, err := failing.Run(context.Background(), Event{ScheduledTime: testNow.Add(time.Hour)})
	is.True(err != nil)
	is.Equal(len(m.log.entries), 2) // the failed run is in the log, incomplete

	res := runAt(t, c, testNow.Add(2*time.Hour))
	is.Equal(res.PreviousRunID, first.RunID) // not the failed one
	is.Equal(res.New, 0)
}

// A listing that fails part way buries nobody: the secrets it did not
// reach are not gone.
func TestNoTombstonesAfterAFailedListing(t *testing.T) {
	is := is.New(t)
	w := &world{secrets: managed(250), calls: map[string]int{}}
	m := &memory{}
	c := sinceChecker(w, m)
	runAt(t, c, testNow)

	list := w.client().ListSecretsFn
	secrets := w.client()
	secrets.ListSecretsFn = func(ctx context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
		if in.NextToken != nil {
			return nil, errors.New("InternalServiceError")
		}
		return list(ctx, in)
	}
	c.Secrets = secrets
	c.Now = func() time.Time { return testNow.Add(time.Hour) }
	res, err := c.Run(context.Background(), Event{ScheduledTime: testNow.Add(time.Hour)})
	is.True(err != nil)
	is.Equal(res.Written, 100) // the first page
	is.Equal(res.Gone, 0)      // and no tombstone for the 150 not listed
}

// A run that cannot read its baseline fails and writes nothing: rows
// saying "new" for every secret would be false news.
func TestRunFailsWithoutItsBaseline(t *testing.T) {
	is := is.New(t)
	w := &world{secrets: managed(3), calls: map[string]int{}}
	m := &memory{}
	c := sinceChecker(w, m)
	runAt(t, c, testNow)
	m.fail = errors.New("AccessDeniedException: no Query")
	c.Now = func() time.Time { return testNow.Add(time.Hour) }
	res, err := c.Run(context.Background(), Event{ScheduledTime: testNow.Add(time.Hour)})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "query audit for the rows of run run-1795608000000: AccessDeniedException"))
	is.Equal(res.Written, 0)
	is.True(!m.log.entries[1].Complete)
}

// The previous run is read while the first pages are listed, not before:
// the Query answers only once ListSecrets has been called, which would
// deadlock a run that read first.
func TestPreviousRunOverlapsTheListing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		w := &world{secrets: managed(300), calls: map[string]int{}}
		m := &memory{}
		c := sinceChecker(w, m)
		runAt(t, c, testNow)

		listed := make(chan struct{})
		var once sync.Once
		var pages atomic.Int32
		secrets := w.client()
		list := secrets.ListSecretsFn
		secrets.ListSecretsFn = func(ctx context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
			pages.Add(1)
			once.Do(func() { close(listed) })
			return list(ctx, in)
		}
		table := m.table()
		query := table.QueryFn
		var pagesBefore int32
		table.QueryFn = func(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
			<-listed
			time.Sleep(time.Second) // a slow read: the listing goes on meanwhile
			pagesBefore = pages.Load()
			return query(ctx, in)
		}
		c.Secrets, c.Table, c.Reads = secrets, table, table
		res := runAt(t, c, testNow.Add(time.Hour))
		is.Equal(res.New, 0)
		is.True(pagesBefore >= 3) // every page was fetched while the previous run was read
	})
}

// The pure comparison of a row with its previous row.
func TestCompare(t *testing.T) {
	created, changed, rotated := testNow.Add(-300*day), testNow.Add(-2*day), testNow.Add(-10*day)
	value := testNow.Add(-40 * day)
	prevAt := testNow.Add(-time.Hour)
	base := prior{created: created.UnixNano(), lastChanged: changed.UnixNano(), basisDate: value.UnixNano(), looked: true, valueDated: true, flagged: true}
	facts := Facts{Created: &created, LastChanged: &changed}
	flagged := Verdict{Status: StatusNeedsRotation, Basis: BasisCurrentVersion, BasisDate: value}
	ok := Verdict{Status: StatusOK, Basis: BasisCurrentVersion, BasisDate: testNow.Add(-time.Minute)}
	later := testNow.Add(-time.Minute)
	tests := []struct {
		name          string
		pr            prior
		had           bool
		f             Facts
		v             Verdict
		change, moved string
	}{
		{"not in the previous run", prior{}, false, facts, flagged, tables.ChangeNew, ""},
		{"the same", base, true, facts, flagged, tables.ChangeUnchanged, ""},
		{"ok, then flagged", prior{created: base.created, lastChanged: base.lastChanged}, true, facts, flagged, tables.ChangeNewlyFlagged, ""},
		{"a value put by hand", base, true, Facts{Created: &created, LastChanged: &later}, ok, tables.ChangeResolved, ChangedValue},
		{"a tag edit", base, true, Facts{Created: &created, LastChanged: &later}, flagged, tables.ChangeUnchanged, ChangedMetadata},
		{"a rotation", base, true, Facts{Created: &created, LastChanged: &later, LastRotated: &later},
			Verdict{Status: StatusOK, Basis: BasisLastRotated, BasisDate: later}, tables.ChangeResolved, ChangedRotation},
		{"deleted and created again", base, true, Facts{Created: &later, LastChanged: &later},
			Verdict{Status: StatusOK, Basis: BasisCreated, BasisDate: later}, tables.ChangeResolved, ChangedRecreated},
		{"a new value after a bound", prior{created: base.created, lastChanged: base.lastChanged}, true,
			Facts{Created: &created, LastChanged: &later}, ok, tables.ChangeUnchanged, ChangedValue},
		{"a row from before the dates were recorded", prior{flagged: true}, true, Facts{Created: &created, LastChanged: &later, LastRotated: &rotated},
			ok, tables.ChangeResolved, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			change, moved := compare(tt.pr, tt.had, tt.f, tt.v, prevAt)
			is.Equal(change, tt.change)
			is.Equal(moved, tt.moved)
		})
	}
}

// The pure incremental value age: a previous row's value date is reused
// only when it was the value's own date and no date moved since.
func TestReuse(t *testing.T) {
	created, changed, rotated := testNow.Add(-300*day), testNow.Add(-2*day), testNow.Add(-60*day)
	value := testNow.Add(-40 * day)
	looked := prior{created: created.UnixNano(), lastChanged: changed.UnixNano(), lastRotated: rotated.UnixNano(),
		basisDate: value.UnixNano(), looked: true, valueDated: true}
	same := Facts{Created: &created, LastChanged: &changed, LastRotated: &rotated}
	moved := changed.Add(time.Millisecond)
	tests := []struct {
		name string
		pr   prior
		f    Facts
		want bool
	}{
		{"dates unchanged", looked, same, true},
		{"changed a millisecond later", looked, Facts{Created: &created, LastChanged: &moved, LastRotated: &rotated}, false},
		{"rotated since", looked, Facts{Created: &created, LastChanged: &changed, LastRotated: &moved}, false},
		{"rotation gone", looked, Facts{Created: &created, LastChanged: &changed}, false},
		{"recreated", looked, Facts{Created: &moved, LastChanged: &changed, LastRotated: &rotated}, false},
		{"judged by a bound, not a lookup", prior{created: looked.created, lastChanged: looked.lastChanged, lastRotated: looked.lastRotated}, same, false},
		{"a row without dates", prior{basisDate: value.UnixNano(), looked: true, valueDated: true}, same, false},
		{"no previous row", prior{}, same, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, ok := tt.pr.reuse(tt.f)
			is.Equal(ok, tt.want)
			if ok {
				is.True(got.Equal(value)) // the previous row's value date
			}
		})
	}
}

// A row read back is the prior it was written from: dates to the
// nanosecond, and first_seen.
func TestPriorOfARow(t *testing.T) {
	is := is.New(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	changed := created.Add(1234567 * time.Microsecond)
	s := secret("x", 0, "Managed", "true")
	rotated := changed.Add(-time.Nanosecond)
	s.CreatedDate, s.LastChangedDate, s.LastRotatedDate = &created, &changed, &rotated
	f := FactsOf(s)
	v := Verdict{Status: StatusNeedsRotation, Basis: BasisCurrentVersion, BasisDate: created, Judged: true}
	rec := newRecord(s, f, v, run{id: "run-1", checkedAt: testNow, policy: Policy{MaxAgeDays: 30}})
	rec.FirstSeen = "2026-01-03T00:00:00Z"
	item, err := attributevalue.MarshalMap(rec)
	is.NoErr(err)
	var row priorRow
	is.NoErr(attributevalue.UnmarshalMap(item, &row))
	pr := row.prior()
	is.True(pr.sameDates(f)) // the dates survive the round trip exactly
	is.True(pr.flagged && pr.looked && pr.valueDated)
	is.Equal(pr.basisDate, created.Truncate(time.Second).UnixNano()) // basis_date is RFC 3339 to the second
	is.Equal(pr.firstSeen, time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC).Unix())
	for _, attr := range comparedAttrs {
		_, ok := item[attr]
		is.True(ok || attr == tables.Change || attr == tables.Region) // every attribute read back is written (change is set by the run, region in organization mode only)
	}
}

// The NewlyFlagged metric is the news an alarm notifies: every flagged
// secret on the first run, then only those flagged since the previous
// run, new ones included; the standing count stays in Flagged.
func TestNewlyFlaggedMetric(t *testing.T) {
	is := is.New(t)
	w := &world{secrets: []smtypes.SecretListEntry{secret("old", 40*day, "Managed", "true"), secret("aging", 29*day, "Managed", "true")},
		calls: map[string]int{}}
	m := &memory{}
	c := sinceChecker(w, m)
	metric := func(at time.Time) (newly, flagged float64) {
		var logs strings.Builder
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		runAt(t, c, at)
		var line map[string]any
		is.NoErr(json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line))
		checkEMF(t, line)
		return line["NewlyFlagged"].(float64), line["Flagged"].(float64)
	}
	newly, flagged := metric(testNow)
	is.Equal([]float64{newly, flagged}, []float64{1, 1}) // the first run's flagged secret is news
	newly, flagged = metric(testNow.Add(time.Hour))
	is.Equal([]float64{newly, flagged}, []float64{0, 1}) // nothing new: no news, one standing
	w.mu.Lock()
	w.secrets = append(w.secrets, secret("arriving", 100*day, "Managed", "true"))
	w.mu.Unlock()
	newly, flagged = metric(testNow.Add(2 * day))
	is.Equal([]float64{newly, flagged}, []float64{2, 3}) // aging crossed the line, arriving came flagged
}

// In organization mode one table holds every unit (account and region) of
// a run, so a unit compares itself with the same unit of the previous run:
// the secrets of another region or account are neither its baseline nor
// gone from it.
func TestUnitComparesWithItsOwnUnit(t *testing.T) {
	is := is.New(t)
	m := &memory{}
	unit := func(account, region string, names ...string) (*Checker, *world) {
		w := &world{calls: map[string]int{}}
		for _, n := range names {
			w.secrets = append(w.secrets, secret(n, 10*day, "Managed", "true"))
		}
		c := sinceChecker(w, m)
		c.Config.AccountID, c.Config.Region = account, region
		c.Config.AuditedRegions = []string{"us-east-1", "eu-west-1"}
		return c, w
	}
	east, _ := unit("111111111111", "us-east-1", "east-db")
	west, _ := unit("111111111111", "eu-west-1", "west-db")
	other, _ := unit("222222222222", "us-east-1", "other-db")
	for _, c := range []*Checker{east, west, other} {
		runAt(t, c, testNow) // the first run: every unit's rows in one table
	}
	later := testNow.Add(time.Hour)
	res := runAt(t, east, later)
	is.Equal(res.PreviousRunID, RunID(Event{ScheduledTime: testNow}, testNow))
	is.Equal(res.Gone, 0)    // west-db and other-db are other units' secrets, not gone
	is.Equal(res.New, 0)     // east-db is the unit's own, seen before
	is.Equal(res.Checked, 1) // and only it is checked
	rows := m.records(t, res.RunID)
	is.Equal(rows["east-db"].Change, tables.ChangeUnchanged)
}

// In organization mode a unit's tombstone is the unit's, as its rows
// are: it carries the account and region, so the org table's by-account
// index holds it and a report of one account lists it.
func TestUnitTombstoneCarriesItsAccountAndRegion(t *testing.T) {
	is := is.New(t)
	m := &memory{}
	w := &world{calls: map[string]int{}}
	w.secrets = append(w.secrets, secret("staying", 10*day, "Managed", "true"), secret("leaving", 10*day, "Managed", "true"))
	c := sinceChecker(w, m)
	c.Config.AccountID, c.Config.Region = "111111111111", "eu-west-1"
	c.Config.AuditedRegions = []string{"us-east-1", "eu-west-1"}
	runAt(t, c, testNow)
	w.mu.Lock()
	w.secrets = w.secrets[:1]
	w.mu.Unlock()
	res := runAt(t, c, testNow.Add(time.Hour))
	is.Equal(res.Gone, 1)
	gone := m.records(t, res.RunID)["leaving"]
	is.Equal(gone.Change, tables.ChangeGone)
	is.Equal(gone.AccountID+"/"+gone.Region, "111111111111/eu-west-1") // placed, as the unit's rows are
}
