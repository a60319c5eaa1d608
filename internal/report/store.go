// Package report is the read side of the audit: it reads the audit table
// and the run log with Queries only (never a Scan, and key attributes only
// ever in key conditions), builds the answer for one run (Report) and the
// evidence for a period (History), and renders them as a table, CSV, JSON
// or Markdown. The rotation-audit command and the dashboard share it.
//
// It imports the DynamoDB SDK types (through a tiny interface), the
// expression builder, and packages audit, tables and schedexpr for the row
// and run shapes, the table contract and the schedule's fire times; never
// the embedded cloud.
package report

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// Querier is the part of the DynamoDB client the read side uses: Query,
// and nothing else.
type Querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ Querier = (*dynamodb.Client)(nil)

// Errors a user can meet and act on.
var (
	// ErrNoRuns: the run log holds no complete run yet.
	ErrNoRuns = errors.New("no complete run is recorded yet")
	// ErrNoSuchRun: the run log has no run with that ID.
	ErrNoSuchRun = errors.New("no such run")
)

// Store reads one stack's audit table and run log, and an organization
// hub's organization audit table and units.
//
// A run's mode is in its run log entry (audit.RunEntry.Organization), so
// a reader finds the mode from the run it reads, with no call of its own:
// ForRun returns the store that reads that run's rows. A single-account
// store never reads OrgTable or UnitsTable.
type Store struct {
	DB        Querier
	Table     string // <stack>-audit
	RunsTable string // <stack>-runs
	// OrgTable and UnitsTable are an organization hub's tables,
	// <stack>-org-audit and <stack>-units (package tables). A reader names
	// them from the stack whatever its mode: only an Org store reads them.
	OrgTable, UnitsTable string
	// Org makes the store read an organization hub: the rows of a run and
	// of a secret come from OrgTable, where a secret is keyed by its ARN
	// (two secrets of one name in two accounts or regions are two), and a
	// run has units. ForRun sets it from a run's entry.
	Org bool
}

// ForRun is the store that reads a run's rows: a copy of s in
// organization mode when the run's entry is an organization run's, in
// single-account mode otherwise.
func (s *Store) ForRun(run audit.RunEntry) *Store {
	c := *s
	c.Org = run.Organization()
	return &c
}

// auditTable is the table the store reads rows from.
func (s *Store) auditTable() string {
	if s.Org {
		return s.OrgTable
	}
	return s.Table
}

// secretKey is the attribute a secret's rows are keyed by: its name, or
// in organization mode its ARN.
func (s *Store) secretKey() string {
	if s.Org {
		return tables.SecretARN
	}
	return tables.SecretName
}

// SecretKey is what names a secret's rows in a store: the row's secret
// name, or in organization mode its ARN. SecretHistory and EachSecretRow
// take it.
func (s *Store) SecretKey(r audit.Record) string {
	if s.Org {
		return r.SecretARN
	}
	return r.SecretName
}

// Latest is what LatestRun finds.
type Latest struct {
	// Run is the newest complete run at or before now.
	Run audit.RunEntry
	// Ahead is the newest complete run dated after now, nil when there is
	// none: a run sent with a scheduled time ahead of the clock. It is
	// never the latest run, and a reader says it skipped it.
	Ahead *audit.RunEntry
}

// LatestRun is the newest complete run at or before now (a run's date is
// the time its ID holds, its scheduled time): one Query of the run log's
// sparse index, newest first, Limit 1, and a second one, bounded by now,
// only when the newest run is dated after now. It wraps ErrNoRuns when no
// complete run is dated at or before now; Ahead may still be set then.
func (s *Store) LatestRun(ctx context.Context, now time.Time) (Latest, error) {
	newest, err := s.endRun(ctx, false, expression.KeyConditionBuilder{})
	if err != nil {
		return Latest{}, err
	}
	if !runAfter(newest.RunID, now) {
		return Latest{Run: newest}, nil
	}
	l := Latest{Ahead: &newest}
	l.Run, err = s.endRun(ctx, false, expression.Key(tables.RunID).LessThanEqual(expression.Value(tables.NewRunID(now))))
	return l, err
}

// runAfter says whether a run is dated after now; an ID that names no
// time is not.
func runAfter(runID string, now time.Time) bool {
	at, err := tables.ParseRunID(runID)
	return err == nil && at.After(now)
}

// endRun is the first or the last complete run in the sparse index, within
// the run_id condition when one is given.
func (s *Store) endRun(ctx context.Context, first bool, runID expression.KeyConditionBuilder) (audit.RunEntry, error) {
	key := expression.Key(tables.CompleteKey).Equal(expression.Value(tables.CompleteValue))
	if runID.IsSet() {
		key = key.And(runID)
	}
	out, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:        aws.String(s.RunsTable),
		IndexName:        aws.String(tables.CompleteIndex),
		ScanIndexForward: aws.Bool(first),
		Limit:            aws.Int32(1),
	}, key)
	if err != nil {
		return audit.RunEntry{}, err
	}
	if len(out.Items) == 0 {
		return audit.RunEntry{}, fmt.Errorf("%w in %s", ErrNoRuns, s.RunsTable)
	}
	var e audit.RunEntry
	if err := attributevalue.UnmarshalMap(out.Items[0], &e); err != nil {
		return audit.RunEntry{}, fmt.Errorf("read run log entry: %w", err)
	}
	return e, nil
}

// FirstRun is the earliest complete run the run log still holds: one
// Query of its sparse index, oldest first, Limit 1.
func (s *Store) FirstRun(ctx context.Context) (audit.RunEntry, error) {
	return s.endRun(ctx, true, expression.KeyConditionBuilder{})
}

// Run is one run's entry: one Query of its month's partition.
func (s *Store) Run(ctx context.Context, runID string) (audit.RunEntry, error) {
	at, err := tables.ParseRunID(runID)
	if err != nil {
		return audit.RunEntry{}, err
	}
	key := expression.Key(tables.Month).Equal(expression.Value(tables.MonthOf(at))).
		And(expression.Key(tables.RunID).Equal(expression.Value(runID)))
	out, err := s.query(ctx, &dynamodb.QueryInput{TableName: aws.String(s.RunsTable)}, key)
	if err != nil {
		return audit.RunEntry{}, err
	}
	if len(out.Items) == 0 {
		return audit.RunEntry{}, fmt.Errorf("%w %s in %s", ErrNoSuchRun, runID, s.RunsTable)
	}
	var e audit.RunEntry
	if err := attributevalue.UnmarshalMap(out.Items[0], &e); err != nil {
		return audit.RunEntry{}, fmt.Errorf("read run log entry: %w", err)
	}
	return e, nil
}

// Runs lists the run log between from and to (to excluded), oldest first:
// one Query per month, each keyed on its month and a run_id range.
func (s *Store) Runs(ctx context.Context, from, to time.Time) ([]audit.RunEntry, error) {
	var runs []audit.RunEntry
	for month := monthStart(from); month.Before(to); month = month.AddDate(0, 1, 0) {
		key := expression.Key(tables.Month).Equal(expression.Value(tables.MonthOf(month))).
			And(runsBetween(from, to))
		err := s.pages(ctx, &dynamodb.QueryInput{TableName: aws.String(s.RunsTable)}, key, func(items []map[string]dbtypes.AttributeValue) error {
			var page []audit.RunEntry
			if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
				return fmt.Errorf("read run log entries: %w", err)
			}
			runs = append(runs, page...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// Rows is every audit row of one run: Queries of the run index on run_id
// (in organization mode, every account's and region's).
func (s *Store) Rows(ctx context.Context, runID string) ([]audit.Record, error) {
	var rows []audit.Record
	err := s.EachRow(ctx, runID, func(r audit.Record) { rows = append(rows, r) })
	return rows, err
}

// EachRow calls f for every audit row of one run, page by page, so a
// reader of many runs holds one page at a time.
func (s *Store) EachRow(ctx context.Context, runID string, f func(audit.Record)) error {
	in := &dynamodb.QueryInput{TableName: aws.String(s.auditTable()), IndexName: aws.String(tables.RunIndex)}
	return s.pages(ctx, in, expression.Key(tables.RunID).Equal(expression.Value(runID)), eachRecord(f))
}

// eachRecord hands each item of a page of audit rows to f.
func eachRecord(f func(audit.Record)) func([]map[string]dbtypes.AttributeValue) error {
	return func(items []map[string]dbtypes.AttributeValue) error {
		for _, item := range items {
			var r audit.Record
			if err := attributevalue.UnmarshalMap(item, &r); err != nil {
				return fmt.Errorf("read audit row: %w", err)
			}
			f(r)
		}
		return nil
	}
}

// SecretHistory is one secret's rows between from and to, oldest first:
// Queries of its partition, the secret (its name, or in organization mode
// its ARN: SecretKey) and a run_id range both in the key condition.
func (s *Store) SecretHistory(ctx context.Context, name string, from, to time.Time) ([]audit.Record, error) {
	key := expression.Key(s.secretKey()).Equal(expression.Value(name)).And(runsBetween(from, to))
	var rows []audit.Record
	err := s.pages(ctx, &dynamodb.QueryInput{TableName: aws.String(s.auditTable())}, key, func(items []map[string]dbtypes.AttributeValue) error {
		var page []audit.Record
		if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
			return fmt.Errorf("read audit rows: %w", err)
		}
		rows = append(rows, page...)
		return nil
	})
	return rows, err
}

// EachSecretRow calls f for each of one secret's rows between from and
// to, newest first, page by page: Queries of its partition, the secret
// (SecretKey) and a run_id range both in the key condition. A reader that
// shows the latest rows holds only those.
func (s *Store) EachSecretRow(ctx context.Context, name string, from, to time.Time, f func(audit.Record)) error {
	key := expression.Key(s.secretKey()).Equal(expression.Value(name)).And(runsBetween(from, to))
	in := &dynamodb.QueryInput{TableName: aws.String(s.auditTable()), ScanIndexForward: aws.Bool(false)}
	return s.pages(ctx, in, key, eachRecord(f))
}

// query runs one Query with a key condition.
func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput, key expression.KeyConditionBuilder) (*dynamodb.QueryOutput, error) {
	if err := withKey(in, key); err != nil {
		return nil, err
	}
	out, err := s.DB.Query(ctx, in)
	if err != nil {
		return nil, queryError(aws.ToString(in.TableName), err)
	}
	return out, nil
}

// pages runs a Query to its last page, handing each page's items to f.
func (s *Store) pages(ctx context.Context, in *dynamodb.QueryInput, key expression.KeyConditionBuilder, f func([]map[string]dbtypes.AttributeValue) error) error {
	if err := withKey(in, key); err != nil {
		return err
	}
	pages := dynamodb.NewQueryPaginator(s.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return queryError(aws.ToString(in.TableName), err)
		}
		if err := f(page.Items); err != nil {
			return err
		}
	}
	return nil
}

// withKey sets a Query's key condition, the only condition the read side
// uses: key attributes never go in a FilterExpression.
func withKey(in *dynamodb.QueryInput, key expression.KeyConditionBuilder) error {
	expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
	if err != nil {
		return fmt.Errorf("build query: %w", err)
	}
	in.KeyConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = expr.KeyCondition(), expr.Names(), expr.Values()
	return nil
}

// ErrNoTable is wrapped by a query of a table that does not exist.
var ErrNoTable = errors.New("table not found")

// queryError names the table, and says plainly when it does not exist.
func queryError(table string, err error) error {
	var missing *dbtypes.ResourceNotFoundException
	if errors.As(err, &missing) {
		return fmt.Errorf("%w: %s does not exist (is the stack deployed, and is -stack right?)", ErrNoTable, table)
	}
	return fmt.Errorf("query %s: %w", table, err)
}

// runsBetween is the key condition on run IDs from from to to (to
// excluded): run IDs sort by time, so a range of them is a range of times.
func runsBetween(from, to time.Time) expression.KeyConditionBuilder {
	return expression.Key(tables.RunID).Between(expression.Value(tables.NewRunID(from)), expression.Value(tables.NewRunID(to.Add(-time.Millisecond))))
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
