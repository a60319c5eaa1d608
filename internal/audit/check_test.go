package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
)

// fakeSecrets is a Secrets Manager client whose methods are function fields.
type fakeSecrets struct {
	ListSecretsFn          func(context.Context, *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error)
	ListSecretVersionIdsFn func(context.Context, *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error)
}

func (f *fakeSecrets) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	return f.ListSecretsFn(ctx, in)
}

func (f *fakeSecrets) ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	if f.ListSecretVersionIdsFn == nil {
		panic("ListSecretVersionIds called for " + aws.ToString(in.SecretId))
	}
	return f.ListSecretVersionIdsFn(ctx, in)
}

// fakeTable is a DynamoDB client whose methods are function fields.
type fakeTable struct {
	BatchWriteItemFn func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error)
	PutItemFn        func(context.Context, *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
	QueryFn          func(context.Context, *dynamodb.QueryInput) (*dynamodb.QueryOutput, error)
}

func (f *fakeTable) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if f.QueryFn == nil {
		panic("Query called without a run log table")
	}
	return f.QueryFn(ctx, in)
}

func (f *fakeTable) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return f.BatchWriteItemFn(ctx, in)
}

func (f *fakeTable) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.PutItemFn == nil {
		panic("PutItem called without a run log table")
	}
	return f.PutItemFn(ctx, in)
}

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// paged serves secrets in pages of pageSize, with the page index as NextToken,
// and records every request. Only the lister calls ListSecrets, so the
// requests need no lock.
func paged(secrets []smtypes.SecretListEntry, requests *[]*secretsmanager.ListSecretsInput) *fakeSecrets {
	return &fakeSecrets{ListSecretsFn: func(_ context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
		if requests != nil {
			*requests = append(*requests, in)
		}
		start := 0
		if in.NextToken != nil {
			start, _ = strconv.Atoi(*in.NextToken)
		}
		end := min(start+int(aws.ToInt32(in.MaxResults)), len(secrets))
		out := &secretsmanager.ListSecretsOutput{SecretList: secrets[start:end]}
		if end < len(secrets) {
			out.NextToken = aws.String(strconv.Itoa(end))
		}
		return out, nil
	}}
}

// recorder is a table that accepts every write and keeps the batches. The
// check writes from several goroutines, so it locks.
type recorder struct {
	mu      sync.Mutex
	batches [][]dbtypes.WriteRequest
}

func (r *recorder) table() *fakeTable {
	return &fakeTable{BatchWriteItemFn: func(_ context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.batches = append(r.batches, in.RequestItems["audit"])
		return &dynamodb.BatchWriteItemOutput{}, nil
	}}
}

// records unmarshals every row written, sorted by secret name (writes run
// concurrently, so their order is not fixed).
func (r *recorder) records(t *testing.T) []Record {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var recs []Record
	for _, b := range r.batches {
		for _, w := range b {
			var rec Record
			if err := attributevalue.UnmarshalMap(w.PutRequest.Item, &rec); err != nil {
				t.Fatalf("unmarshal row: %v", err)
			}
			recs = append(recs, rec)
		}
	}
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.SecretName, b.SecretName) })
	return recs
}

// sizes lists the sizes of the batches written.
func (r *recorder) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	return out
}

// secret is a listed secret with the given tags, created changedAgo before
// testNow and not changed since.
func secret(name string, changedAgo time.Duration, tags ...string) smtypes.SecretListEntry {
	s := smtypes.SecretListEntry{
		Name:            aws.String(name),
		ARN:             aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"),
		CreatedDate:     aws.Time(testNow.Add(-changedAgo)),
		LastChangedDate: aws.Time(testNow.Add(-changedAgo)),
	}
	for i := 0; i+1 < len(tags); i += 2 {
		s.Tags = append(s.Tags, smtypes.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
	}
	return s
}

// managed returns n secrets tagged Managed=true.
func managed(n int) []smtypes.SecretListEntry {
	out := make([]smtypes.SecretListEntry, n)
	for i := range out {
		out[i] = secret(fmt.Sprintf("svc-%04d", i), time.Hour, "Managed", "true")
	}
	return out
}

// newTestChecker returns a Checker on the fakes with a fixed clock, no
// backoff delay and the log in logs (if not nil).
func newTestChecker(secrets Secrets, table Tables, logs io.Writer) *Checker {
	if logs == nil {
		logs = io.Discard
	}
	cfg := Config{TableName: "audit", MaxAgeDays: 30, TagKey: "Managed", TagValue: "true", RetentionDays: 400,
		UnusedDays: 90, StackName: "rotcheck", Region: "us-east-1"}
	c := New(secrets, table, cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	c.Now = func() time.Time { return testNow }
	c.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	return c
}

func TestRunListsPageByPage(t *testing.T) {
	is := is.New(t)
	var requests []*secretsmanager.ListSecretsInput
	var rec recorder
	c := newTestChecker(paged(managed(250), &requests), rec.table(), nil)

	res, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 250)
	is.Equal(res.Written, 250)
	is.Equal(len(requests), 3) // 100 + 100 + 50
	for i, in := range requests {
		is.Equal(aws.ToInt32(in.MaxResults), int32(100)) // ListSecrets' maximum page size
		is.Equal(in.Filters, []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{"Managed"}}})
		if i > 0 {
			is.Equal(aws.ToString(in.NextToken), strconv.Itoa(100*i)) // follows the NextToken
		}
	}
	names := map[string]bool{}
	for _, r := range rec.records(t) {
		names[r.SecretName] = true
	}
	is.Equal(len(names), 250) // every secret of every page, once
}

func TestRunBatches(t *testing.T) {
	for _, n := range []int{0, 1, 25, 26, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			is := is.New(t)
			var rec recorder
			c := newTestChecker(paged(managed(n), nil), rec.table(), nil)
			res, err := c.Run(context.Background(), Event{})
			is.NoErr(err)
			is.Equal(res.Checked, n)
			is.Equal(res.Written, n)
			sizes := rec.sizes()
			is.Equal(len(sizes), (n+24)/25) // full batches of 25, then the rest
			total := 0
			for _, size := range sizes {
				is.True(size >= 1 && size <= 25) // BatchWriteItem takes 1..25 requests
				total += size
			}
			is.Equal(total, n)
		})
	}
}

func TestRunBatchesAcrossSparsePages(t *testing.T) {
	is := is.New(t)
	// 300 listed, every third one selected: 100 rows should still go out in
	// full batches, not one short batch per page.
	var secrets []smtypes.SecretListEntry
	for i := range 300 {
		value := "false"
		if i%3 == 0 {
			value = "true"
		}
		secrets = append(secrets, secret(fmt.Sprintf("s-%03d", i), time.Hour, "Managed", value))
	}
	var rec recorder
	c := newTestChecker(paged(secrets, nil), rec.table(), nil)
	res, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 100)
	is.Equal(len(rec.sizes()), 4)
}

func TestRunSelectsExactTag(t *testing.T) {
	is := is.New(t)
	secrets := []smtypes.SecretListEntry{
		secret("exact", time.Hour, "Managed", "true"),
		secret("among-others", time.Hour, "team", "a", "Managed", "true"),
		secret("managed-by", time.Hour, "ManagedBy", "x"),
		secret("managed-false", time.Hour, "Managed", "false"),
		secret("managed-upper", time.Hour, "Managed", "TRUE"),
		secret("untagged", time.Hour),
	}
	var rec recorder
	c := newTestChecker(paged(secrets, nil), rec.table(), nil)
	res, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 2)
	var got []string
	for _, r := range rec.records(t) {
		got = append(got, r.SecretName)
	}
	is.Equal(got, []string{"among-others", "exact"}) // the API's prefix filter is not trusted
}

func TestRunRecords(t *testing.T) {
	is := is.New(t)
	fresh := secret("fresh", 2*day, "Managed", "true")
	stale := secret("stale", 400*day, "Managed", "true")
	stale.LastRotatedDate = aws.Time(testNow.Add(-45 * day))
	stale.RotationEnabled = aws.Bool(true)
	stale.RotationRules = &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}
	stale.NextRotationDate = aws.Time(testNow.Add(-14 * day))
	stale.LastAccessedDate = aws.Time(testNow.Add(-100 * day))
	owned := secret("owned", 500*day, "Managed", "true")
	owned.OwningService = aws.String("rds")
	replica := secret("replica", 500*day, "Managed", "true")
	replica.PrimaryRegion = aws.String("eu-west-1")

	var rec recorder
	c := newTestChecker(paged([]smtypes.SecretListEntry{fresh, stale, owned, replica}, nil), rec.table(), nil)
	res, err := c.Run(context.Background(), Event{ScheduledTime: testNow})
	is.NoErr(err)
	is.Equal(res, Result{RunID: "run-1795608000000", Checked: 4, Flagged: 1, Written: 4,
		CheckedAt: "2026-11-25T12:00:00Z", DurationMS: res.DurationMS, New: 4, NewFlagged: 1}) // no run log: every secret is new

	expires := testNow.Add(400 * day).Unix()
	two, fortyFive := 2, 45
	const at = "2026-11-25T12:00:00Z"
	is.Equal(rec.records(t), []Record{
		{SecretName: "fresh", RunID: "run-1795608000000", Status: StatusOK, Reason: ReasonWithinMaxAge,
			CheckedAt: at, SecretARN: aws.ToString(fresh.ARN), AgeDays: &two,
			Basis: BasisCreated, BasisDate: "2026-11-23T12:00:00Z", MaxAgeDays: 30,
			CreatedDate: "2026-11-23T12:00:00Z", LastChangedDate: "2026-11-23T12:00:00Z",
			Change: "new", ChangeMonth: "2026-11", FirstSeen: at, ExpiresAt: expires},
		{SecretName: "owned", RunID: "run-1795608000000", Status: StatusOK, Reason: ReasonOwnedByService,
			CheckedAt: at, SecretARN: aws.ToString(owned.ARN), Basis: BasisCreated,
			BasisDate: "2025-07-13T12:00:00Z", OwningService: "rds", MaxAgeDays: 30, Unused: true,
			CreatedDate: "2025-07-13T12:00:00Z", LastChangedDate: "2025-07-13T12:00:00Z",
			Change: "new", ChangeMonth: "2026-11", FirstSeen: at, ExpiresAt: expires},
		{SecretName: "replica", RunID: "run-1795608000000", Status: StatusOK, Reason: ReasonReplica,
			CheckedAt: at, SecretARN: aws.ToString(replica.ARN), Basis: BasisCreated,
			BasisDate: "2025-07-13T12:00:00Z", PrimaryRegion: "eu-west-1", MaxAgeDays: 30, Unused: true,
			CreatedDate: "2025-07-13T12:00:00Z", LastChangedDate: "2025-07-13T12:00:00Z",
			Change: "new", ChangeMonth: "2026-11", FirstSeen: at, ExpiresAt: expires},
		{SecretName: "stale", RunID: "run-1795608000000", Status: StatusNeedsRotation, Reason: ReasonOlderThanMaxAge,
			CheckedAt: at, SecretARN: aws.ToString(stale.ARN), AgeDays: &fortyFive,
			Basis: BasisLastRotated, BasisDate: "2026-10-11T12:00:00Z", RotationEnabled: true, MaxAgeDays: 30,
			RotationIntervalDays: 30, NextRotationDate: "2026-11-11T12:00:00Z", RotationOverdue: true,
			LastAccessedDate: "2026-08-17T12:00:00Z", Unused: true,
			CreatedDate: "2025-10-21T12:00:00Z", LastChangedDate: "2025-10-21T12:00:00Z", LastRotatedDate: "2026-10-11T12:00:00Z",
			Change: "new", ChangeMonth: "2026-11", FirstSeen: at, ExpiresAt: expires},
	})

	var item map[string]dbtypes.AttributeValue
	for _, b := range rec.batches {
		for _, w := range b {
			if w.PutRequest.Item["secret_name"].(*dbtypes.AttributeValueMemberS).Value == "fresh" {
				item = w.PutRequest.Item
			}
		}
	}
	is.Equal(item["secret_name"], &dbtypes.AttributeValueMemberS{Value: "fresh"}) // partition key is a string
	is.Equal(item["run_id"], &dbtypes.AttributeValueMemberS{Value: "run-1795608000000"})
	is.Equal(item["age_days"], &dbtypes.AttributeValueMemberN{Value: "2"})
	is.Equal(item["max_age_days"], &dbtypes.AttributeValueMemberN{Value: "30"})
	is.Equal(item["expires_at"], &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)}) // TTL is a number
	is.Equal(item["rotation_enabled"], &dbtypes.AttributeValueMemberBOOL{Value: false})
	is.Equal(item["change_month"], &dbtypes.AttributeValueMemberS{Value: "2026-11"}) // the change index's key: a string
	is.Equal(len(item), 19)                                                          // exactly the documented attributes (the empty optional ones left out), no secret value
}

// A scheduled run is judged at its scheduled time, not at the function's
// clock: in the local cloud's virtual time the function's clock is weeks
// behind, and a retried fire must judge as the first attempt did.
func TestRunJudgesAtScheduledTime(t *testing.T) {
	is := is.New(t)
	at := testNow.Add(31 * day)
	var rec recorder
	c := newTestChecker(paged([]smtypes.SecretListEntry{secret("db", 0, "Managed", "true")}, nil), rec.table(), nil)
	res, err := c.Run(context.Background(), Event{ScheduledTime: at})
	is.NoErr(err)
	is.Equal(res.CheckedAt, at.Format(time.RFC3339)) // the scheduled time
	is.Equal(res.Flagged, 1)                         // changed at testNow, 31 days before the run
	rows := rec.records(t)
	is.Equal(*rows[0].AgeDays, 31)
	is.Equal(rows[0].ExpiresAt, at.Add(400*day).Unix()) // retention counts from the run's time too
}

// Two manual invokes in the same second are two runs.
func TestManualRunIDsKeepMilliseconds(t *testing.T) {
	is := is.New(t)
	c := newTestChecker(paged(nil, nil), (&recorder{}).table(), nil)
	c.Now = func() time.Time { return testNow.Add(250 * time.Millisecond) }
	first, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	c.Now = func() time.Time { return testNow.Add(750 * time.Millisecond) }
	second, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.True(first.RunID != second.RunID)                                         // two runs
	is.Equal(first.CheckedAt, testNow.Format(time.RFC3339))                      // judged to the second
	is.Equal(first.RunID, "run-"+strconv.FormatInt(testNow.UnixMilli()+250, 10)) // named to the millisecond
}

func TestRunRetriesUnprocessedItems(t *testing.T) {
	is := is.New(t)
	calls := 0
	var written []dbtypes.WriteRequest
	table := &fakeTable{BatchWriteItemFn: func(_ context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		calls++
		rows := in.RequestItems["audit"]
		if calls <= 3 { // throttled: only the first row of each call goes through
			written = append(written, rows[0])
			return &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]dbtypes.WriteRequest{"audit": rows[1:]}}, nil
		}
		written = append(written, rows...)
		return &dynamodb.BatchWriteItemOutput{}, nil
	}}
	var delays []int
	c := newTestChecker(paged(managed(10), nil), table, nil)
	c.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
		delays = append(delays, attempt)
		return time.Millisecond, nil
	})
	c.Writers = 1 // one writer, so the fake sees the calls in order
	res, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(calls, 4)               // retried until nothing was left
	is.Equal(delays, []int{1, 2, 3}) // with a backoff before each retry
	is.Equal(res.Written, 10)
	is.Equal(len(written), 10)
}

func TestRunUnprocessedItemsNeverClear(t *testing.T) {
	is := is.New(t)
	calls := 0
	table := &fakeTable{BatchWriteItemFn: func(_ context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		calls++
		rows := in.RequestItems["audit"]
		if calls == 1 {
			return &dynamodb.BatchWriteItemOutput{}, nil // the first batch of 25 goes through
		}
		stuck := rows[max(len(rows)-3, 0):] // three rows of the second batch never go through
		return &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]dbtypes.WriteRequest{"audit": stuck}}, nil
	}}
	c := newTestChecker(paged(managed(30), nil), table, nil)
	c.Writers = 1 // one writer, so the fake sees the calls in order
	res, err := c.Run(context.Background(), Event{})
	is.True(err != nil)            // rows missing must not look like success
	is.Equal(calls, 1+maxAttempts) // bounded: maxAttempts calls for the second batch
	is.Equal(res.Written, 27)
	is.True(strings.Contains(err.Error(), "27 rows written"))
	is.True(strings.Contains(err.Error(), fmt.Sprintf("3 rows still unprocessed after %d attempts", maxAttempts)))
}

func TestRunWriteError(t *testing.T) {
	is := is.New(t)
	table := &fakeTable{BatchWriteItemFn: func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		return nil, errors.New("AccessDeniedException: not allowed")
	}}
	c := newTestChecker(paged(managed(3), nil), table, nil)
	c.Writers = 1 // one writer, so the fake sees the calls in order
	res, err := c.Run(context.Background(), Event{})
	is.True(err != nil)
	is.Equal(res.Written, 0)
	is.True(strings.Contains(err.Error(), "write audit batch: AccessDeniedException"))
	is.True(strings.Contains(err.Error(), "0 rows written"))
}

func TestRunListError(t *testing.T) {
	is := is.New(t)
	good := paged(managed(150), nil)
	secrets := &fakeSecrets{ListSecretsFn: func(ctx context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
		if in.NextToken != nil {
			return nil, errors.New("ThrottlingException: rate exceeded")
		}
		return good.ListSecretsFn(ctx, in)
	}}
	var rec recorder
	c := newTestChecker(secrets, rec.table(), nil)
	res, err := c.Run(context.Background(), Event{})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "list secrets:"))
	is.Equal(res.Written, 100) // the first page was written before the failure
	is.True(strings.Contains(err.Error(), "100 rows written"))
}

func TestRunUnusableMetadata(t *testing.T) {
	is := is.New(t)
	noName := secret("", time.Hour, "Managed", "true")
	noName.ARN = aws.String("arn:aws:secretsmanager:us-east-1:1:secret:x")
	noARN := secret("no-arn", time.Hour, "Managed", "true")
	noARN.ARN = nil
	var rec recorder
	c := newTestChecker(paged([]smtypes.SecretListEntry{noName, secret("ok", time.Hour, "Managed", "true"), noARN}, nil), rec.table(), nil)
	res, err := c.Run(context.Background(), Event{})
	is.True(err != nil)      // an unaudited secret is not silently dropped
	is.Equal(res.Written, 1) // the good one is still recorded
	is.Equal(len(rec.records(t)), 1)
	is.True(strings.Contains(err.Error(), "2 listed secrets were not audited"))
	is.True(strings.Contains(err.Error(), "secret arn:aws:secretsmanager:us-east-1:1:secret:x has no name"))
	is.True(strings.Contains(err.Error(), "secret no-arn has no ARN"))
}

func TestRunSecretListedTwice(t *testing.T) {
	is := is.New(t)
	s := secret("twice", time.Hour, "Managed", "true")
	var rec recorder
	c := newTestChecker(paged([]smtypes.SecretListEntry{s, secret("other", time.Hour, "Managed", "true"), s}, nil), rec.table(), nil)
	res, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 2)
	is.Equal(len(rec.batches[0]), 2) // DynamoDB rejects two writes to one key in a batch
}

// At the invocation deadline the run has stopped, its run log entry has
// been written or given up, and its log line (with the metrics) is out:
// the work stops StopMargin before the deadline, the run log write ends
// by half the margin before it, and the other half is the log line's.
func TestRunStopsBeforeDeadline(t *testing.T) {
	for _, runLogHangs := range []bool{false, true} {
		t.Run(fmt.Sprintf("run log hangs=%v", runLogHangs), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				is := is.New(t)
				start := time.Now()
				deadline := start.Add(10 * time.Second)
				var stoppedAt time.Time
				var log runLog
				table := logged(&fakeTable{BatchWriteItemFn: func(ctx context.Context, _ *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
					<-ctx.Done() // a write that hangs until the run gives up
					stoppedAt = time.Now()
					return nil, ctx.Err()
				}}, &log)
				var putDone time.Time
				if runLogHangs {
					table.PutItemFn = func(ctx context.Context, _ *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
						<-ctx.Done() // and so does the run log
						putDone = time.Now()
						return nil, ctx.Err()
					}
				}
				var logs timedWriter
				c := newTestChecker(paged(managed(3), nil), table, &logs)
				c.Config.RunsTableName = "runs"
				c.Writers = 1 // one writer, so stoppedAt has one writer
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()

				_, err := c.Run(ctx, Event{})
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), "stopped 2s before the invocation deadline"))
				is.Equal(stoppedAt, deadline.Add(-2*time.Second)) // the work stopped at the whole margin
				is.Equal(len(logs.at), 1)                         // one log line...
				is.True(logs.at[0].Before(deadline))              // ...out before the deadline
				is.True(strings.Contains(logs.lines[0], `"RunsCompleted":0`))
				if runLogHangs {
					is.Equal(putDone, deadline.Add(-time.Second)) // the run log write gave up at half the margin
					is.True(strings.Contains(err.Error(), "write run log entry to runs"))
					is.True(!logs.at[0].Before(putDone)) // the line came after it, with the second half left
					return
				}
				is.Equal(len(log.entries), 1) // the stopped run is in the run log...
				is.True(!log.entries[0].Complete)
				is.True(strings.Contains(log.entries[0].Error, "stopped 2s before the invocation deadline")) // ...saying why
			})
		})
	}
}

// timedWriter keeps each line written and the time it was written at.
type timedWriter struct {
	mu    sync.Mutex
	at    []time.Time
	lines []string
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at = append(w.at, time.Now())
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

// An invalid event is rejected before any AWS call. The fakes count their
// calls rather than fail the test, since they would run on the run's
// goroutines, where t.Fatal must not be called.
func TestHandleRejectsBadEventBeforeAnyAWSCall(t *testing.T) {
	for _, payload := range []string{`[1]`, `"x"`, `{"scheduled_time":"noon"}`} {
		t.Run(payload, func(t *testing.T) {
			is := is.New(t)
			var calls atomic.Int32
			secrets := &fakeSecrets{ListSecretsFn: func(context.Context, *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
				calls.Add(1)
				return &secretsmanager.ListSecretsOutput{}, nil
			}}
			table := &fakeTable{BatchWriteItemFn: func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
				calls.Add(1)
				return &dynamodb.BatchWriteItemOutput{}, nil
			}}
			_, err := newTestChecker(secrets, table, nil).Handle(context.Background(), json.RawMessage(payload))
			is.True(err != nil)
			is.Equal(calls.Load(), int32(0)) // no AWS call
		})
	}
}

func TestHandleScheduleEventIsIdempotent(t *testing.T) {
	is := is.New(t)
	payload, err := os.ReadFile("../../events/schedule.json")
	is.NoErr(err)
	var rec recorder
	c := newTestChecker(paged(managed(2), nil), rec.table(), nil)
	fired := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC) // the fixture's scheduled_time
	c.Now = func() time.Time { return fired.Add(time.Second) }
	first, err := c.Handle(context.Background(), payload)
	is.NoErr(err)
	c.Now = func() time.Time { return fired.Add(5 * time.Minute) } // a retry, later
	second, err := c.Handle(context.Background(), payload)
	is.NoErr(err)
	is.Equal(first.RunID, "run-1795615200000")
	is.Equal(second.RunID, first.RunID) // the retry rewrites the same rows
	recs := rec.records(t)
	is.Equal(len(recs), 4)
	is.Equal(recs[0].SecretName, recs[1].SecretName)
	is.Equal(recs[0].RunID, recs[1].RunID) // same key, so the row is replaced, not duplicated
}

func TestRunLogsOneSummaryLine(t *testing.T) {
	is := is.New(t)
	var logs bytes.Buffer
	var rec recorder
	c := newTestChecker(paged([]smtypes.SecretListEntry{secret("old", 90*day, "Managed", "true"), secret("new", day, "Managed", "true")}, nil), rec.table(), &logs)
	_, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	is.Equal(len(lines), 1) // one summary line per run
	var line map[string]any
	is.NoErr(json.Unmarshal([]byte(lines[0]), &line)) // JSON, for LogFormat JSON
	is.Equal(line["msg"], "rotation check finished")
	is.Equal(line["run_id"], "run-"+strconv.FormatInt(testNow.UnixMilli(), 10))
	is.Equal(line["checked"], 2.0)
	is.Equal(line["flagged"], 1.0)
	_, ok := line["duration_ms"]
	is.True(ok)
}

func TestFullJitterStaysWithinItsCeiling(t *testing.T) {
	is := is.New(t)
	for attempt := 1; attempt <= 40; attempt++ {
		ceiling := min(baseBackoff<<min(attempt-1, 16), maxBackoff)
		for range 50 {
			d, err := fullJitter(attempt, nil)
			is.NoErr(err)
			is.True(d >= 0 && d <= ceiling) // random, but never above the doubling ceiling or the cap
		}
	}
	seen := map[time.Duration]bool{}
	for range 20 {
		d, _ := fullJitter(8, nil)
		seen[d] = true
	}
	is.True(len(seen) > 1) // jittered even at the cap
}

func TestInvokeTakesRawPayloads(t *testing.T) {
	is := is.New(t)
	var rec recorder
	c := newTestChecker(paged(managed(2), nil), rec.table(), nil)
	out, err := c.Invoke(context.Background(), nil) // aws lambda invoke without --payload
	is.NoErr(err)
	var res Result
	is.NoErr(json.Unmarshal(out, &res))
	is.Equal(res.Checked, 2)
	_, err = c.Invoke(context.Background(), []byte(`{} trailing`))
	is.True(err != nil) // trailing bytes after the object are not ignored
}

// A scheduled_time ahead of the function's clock by more than the
// schedule's flexible window plus clockSkew is refused, with an error
// naming the problem, before any call: no rows, no run log entry. Such a
// run would stay "the latest run" until its date.
func TestHandleRefusesAFutureScheduledTime(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		window  time.Duration
		refused bool
	}{
		{"2030", `{"scheduled_time":"2030-01-01T00:00:00Z"}`, 0, true},
		{"a fire due now", `{"scheduled_time":"2026-11-25T12:00:00Z"}`, 0, false},
		{"a fire 5 minutes ahead: clock skew", `{"scheduled_time":"2026-11-25T12:05:00Z"}`, 0, false},
		{"a fire 5 minutes and a second ahead", `{"scheduled_time":"2026-11-25T12:05:01Z"}`, 0, true},
		{"20 minutes ahead, within a 15-minute window", `{"scheduled_time":"2026-11-25T12:20:00Z"}`, 15 * time.Minute, false},
		{"21 minutes ahead, beyond it", `{"scheduled_time":"2026-11-25T12:21:00Z"}`, 15 * time.Minute, true},
		{"a manual invoke has no scheduled time", `{}`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var log runLog
			var rec recorder
			var lists atomic.Int32
			secrets := paged(managed(2), nil)
			list := secrets.ListSecretsFn
			secrets.ListSecretsFn = func(ctx context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
				lists.Add(1)
				return list(ctx, in)
			}
			var logs bytes.Buffer
			c := newTestChecker(secrets, logged(rec.table(), &log), &logs)
			c.Config.RunsTableName = "runs"
			c.Config.FlexibleWindow = tt.window
			_, err := c.Handle(context.Background(), []byte(tt.payload))
			if !tt.refused {
				is.NoErr(err)
				is.Equal(len(log.entries), 1) // the run ran
				return
			}
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), "ahead of the function's clock (2026-11-25T12:00:00Z)")) // names the problem
			is.Equal(lists.Load(), int32(0))                                                               // no call
			is.Equal(len(rec.records(t)), 0)                                                               // no rows
			is.Equal(len(log.entries), 0)                                                                  // no run log entry
			is.True(strings.Contains(logs.String(), `"msg":"event rejected"`))                             // and the log says so
		})
	}
	is := is.New(t)
	err := notAhead(Event{ScheduledTime: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, testNow, 0)
	is.Equal(err.Error(), "event scheduled_time 2030-01-01T00:00:00Z is 1132 days ahead of the function's clock (2026-11-25T12:00:00Z), "+
		"more than the schedule's flexible window (0s) plus 5m0s of clock skew: a run cannot be dated in the future, nothing was written")
}
