package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// runLog is a table that keeps the run log entries written to it.
type runLog struct {
	mu      sync.Mutex
	entries []RunEntry
	fail    error
}

func (l *runLog) put(_ context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	var e RunEntry
	if err := attributevalue.UnmarshalMap(in.Item, &e); err != nil {
		return nil, err
	}
	l.entries = append(l.entries, e)
	return &dynamodb.PutItemOutput{}, nil
}

// latestBefore answers the run's Query of the by-completion index: the
// newest complete entry before the run ID in the key condition, or none.
func (l *runLog) latestBefore(_ context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if aws.ToString(in.IndexName) != tables.CompleteIndex {
		return nil, fmt.Errorf("the run log has no index %q", aws.ToString(in.IndexName))
	}
	before := runIDIn(in)
	var latest *RunEntry
	for i, e := range l.entries {
		if e.CompleteKey == tables.CompleteValue && e.RunID < before && (latest == nil || e.RunID > latest.RunID) {
			latest = &l.entries[i]
		}
	}
	out := &dynamodb.QueryOutput{}
	if latest != nil {
		item, err := attributevalue.MarshalMap(latest)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

// runIDIn is the run ID among a Query's values.
func runIDIn(in *dynamodb.QueryInput) string {
	for _, v := range in.ExpressionAttributeValues {
		if s, ok := v.(*dbtypes.AttributeValueMemberS); ok && strings.HasPrefix(s.Value, "run-") {
			return s.Value
		}
	}
	return ""
}

// logged makes table write its run log entries to log, and read the
// previous complete run from it (with no rows: see memory for those).
func logged(table *fakeTable, log *runLog) *fakeTable {
	table.PutItemFn = log.put
	table.QueryFn = func(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		if aws.ToString(in.IndexName) == tables.RunIndex {
			return &dynamodb.QueryOutput{}, nil
		}
		return log.latestBefore(ctx, in)
	}
	return table
}

func TestRunLogRecordsACompleteRun(t *testing.T) {
	is := is.New(t)
	var log runLog
	var rec recorder
	c := newTestChecker(paged(managed(3), nil), logged(rec.table(), &log), nil)
	c.Config.RunsTableName = "runs"
	res, err := c.Run(context.Background(), Event{ScheduledTime: testNow})
	is.NoErr(err)
	is.Equal(log.entries, []RunEntry{{
		Month: "2026-11", RunID: res.RunID, CheckedAt: "2026-11-25T12:00:00Z", Checked: 3, Written: 3, New: 3,
		Complete: true, DurationMS: res.DurationMS, MaxAgeDays: 30, ScheduledTime: "2026-11-25T12:00:00Z",
		CompleteKey: "complete", ExpiresAt: testNow.Add(400 * day).Unix(),
	}}) // one entry, in the month partition, keyed for the latest-complete index
}

// A failed run's entry is written too, with its error and without the
// complete key, so it is in the log but never "the latest complete run".
func TestRunLogRecordsAFailedRun(t *testing.T) {
	is := is.New(t)
	var log runLog
	table := &fakeTable{BatchWriteItemFn: func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		return nil, errors.New("AccessDeniedException: not allowed")
	}}
	c := newTestChecker(paged(managed(3), nil), logged(table, &log), nil)
	c.Config.RunsTableName = "runs"
	_, err := c.Run(context.Background(), Event{})
	is.True(err != nil)
	is.Equal(len(log.entries), 1)
	e := log.entries[0]
	is.True(!e.Complete)
	is.Equal(e.CompleteKey, "") // not in the sparse index
	is.True(strings.Contains(e.Error, "write audit batch: AccessDeniedException"))
	is.Equal(e.ScheduledTime, "") // a manual run
}

// A run whose entry cannot be written fails, saying so: a run missing from
// the log would look like the audit did not run.
func TestRunLogFailureIsLoud(t *testing.T) {
	is := is.New(t)
	log := runLog{fail: errors.New("ResourceNotFoundException: no such table")}
	var rec recorder
	c := newTestChecker(paged(managed(2), nil), logged(rec.table(), &log), nil)
	c.Config.RunsTableName = "runs"
	res, err := c.Run(context.Background(), Event{})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "write run log entry to runs: ResourceNotFoundException"))
	is.Equal(res.Written, 2) // the rows themselves are written
}
