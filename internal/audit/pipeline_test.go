package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/matryer/is"
)

// versions answers ListSecretVersionIds with an AWSCURRENT version created
// currentAgo[name] before testNow, counting the calls per secret.
type versions struct {
	currentAgo map[string]time.Duration
	mu         sync.Mutex
	calls      map[string]int
}

func (v *versions) list(_ context.Context, in *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	arn := aws.ToString(in.SecretId)
	name := strings.TrimSuffix(arn[strings.LastIndex(arn, ":")+1:], "-AbCdEf")
	v.mu.Lock()
	if v.calls == nil {
		v.calls = map[string]int{}
	}
	v.calls[name]++
	v.mu.Unlock()
	ago, ok := v.currentAgo[name]
	if !ok {
		return nil, fmt.Errorf("no versions for %s", name)
	}
	return &secretsmanager.ListSecretVersionIdsOutput{Versions: []smtypes.SecretVersionsListEntry{
		{VersionId: aws.String("old"), VersionStages: []string{"AWSPREVIOUS"}, CreatedDate: aws.Time(testNow.Add(-ago - 90*day))},
		{VersionId: aws.String("cur"), VersionStages: []string{"AWSCURRENT"}, CreatedDate: aws.Time(testNow.Add(-ago))},
	}}, nil
}

// mixed is a population of four kinds of secret, n of each: rotated,
// created recently, old and unchanged, and old but changed recently (a tag
// edit) whose current value is 40 days old for even i and a day old for odd.
func mixed(n int) ([]smtypes.SecretListEntry, *versions) {
	var out []smtypes.SecretListEntry
	v := &versions{currentAgo: map[string]time.Duration{}}
	for i := range n {
		rotated := secret(fmt.Sprintf("rotated-%03d", i), 300*day, "Managed", "true")
		rotated.LastRotatedDate = aws.Time(testNow.Add(-5 * day))
		edited := secret(fmt.Sprintf("edited-%03d", i), 300*day, "Managed", "true")
		edited.LastChangedDate = aws.Time(testNow.Add(-time.Hour))
		v.currentAgo[aws.ToString(edited.Name)] = map[bool]time.Duration{true: 40 * day, false: day}[i%2 == 0]
		out = append(out, rotated, secret(fmt.Sprintf("new-%03d", i), 3*day, "Managed", "true"),
			secret(fmt.Sprintf("old-%03d", i), 200*day, "Managed", "true"), edited)
	}
	return out, v
}

// Only the secrets whose value's age the list cannot settle are looked
// up, once each: the old ones changed recently.
func TestRunLooksUpOnlyTheAmbiguous(t *testing.T) {
	is := is.New(t)
	population, v := mixed(25)
	secrets := paged(population, nil)
	secrets.ListSecretVersionIdsFn = v.list
	var rec recorder
	res, err := newTestChecker(secrets, rec.table(), nil).Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 100)
	is.Equal(res.LookedUp, 25)
	is.Equal(len(v.calls), 25) // exactly the edited secrets...
	for name, n := range v.calls {
		is.True(strings.HasPrefix(name, "edited-")) // ...and nothing else
		is.Equal(n, 1)                              // once each
	}
	flagged := map[Basis]int{}
	for _, r := range rec.records(t) {
		if r.Flagged() {
			flagged[r.Basis]++
		}
		if strings.HasPrefix(r.SecretName, "edited-") {
			is.Equal(r.Basis, BasisCurrentVersion) // judged by the value, not the tag edit
		}
	}
	is.Equal(flagged, map[Basis]int{BasisLastChanged: 25, BasisCurrentVersion: 13}) // the old, and the edited with an old value
	is.Equal(res.Flagged, 38)
}

func throttle() error {
	return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
}

// A lookup that fails leaves its secret unaudited, named in the error, and
// the others are written. (Throttled lookups are retried by the SDK's
// retryer, below the Secrets interface: retry_test.go counts those calls.)
func TestRunLookupFailure(t *testing.T) {
	is := is.New(t)
	population, v := mixed(2)
	secrets := paged(population, nil)
	secrets.ListSecretVersionIdsFn = func(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
		if strings.Contains(aws.ToString(in.SecretId), "edited-001") {
			return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed"}
		}
		return v.list(ctx, in)
	}
	var rec recorder
	c := newTestChecker(secrets, rec.table(), nil)
	res, err := c.Run(context.Background(), Event{})
	is.True(err != nil)                                                         // an unaudited secret is loud
	is.True(strings.Contains(err.Error(), "1 listed secrets were not audited")) // counted
	is.True(strings.Contains(err.Error(), "secret edited-001: list secret versions: api error AccessDeniedException"))
	is.Equal(res.Unaudited, 1)
	is.Equal(res.Written, 7) // every other secret is recorded
	for _, r := range rec.records(t) {
		is.True(r.SecretName != "edited-001")
	}
}

// Under concurrency every row is written exactly once: 2,000 secrets, a
// quarter looked up, random batches throttled and random batches only
// partly processed.
func TestRunConcurrentGuarantees(t *testing.T) {
	is := is.New(t)
	population, v := mixed(500)
	secrets := paged(population, nil)
	secrets.ListSecretVersionIdsFn = v.list
	var mu sync.Mutex
	written := map[string]int{}
	dropped := map[string]int{}
	throttles := map[string]int{} // by the batch's first secret
	table := &fakeTable{BatchWriteItemFn: func(_ context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		mu.Lock()
		defer mu.Unlock()
		rows := in.RequestItems["audit"]
		first := rows[0].PutRequest.Item["secret_name"].(*dbtypes.AttributeValueMemberS).Value
		// At random, at most twice per batch, a full batch is throttled
		// (with at most three drops per row below, no batch needs more
		// than 2 + 4 calls: within maxAttempts).
		if len(rows) == batchSize && throttles[first] < 2 && rand.N(3) == 0 {
			throttles[first]++
			return nil, throttle()
		}
		var unprocessed []dbtypes.WriteRequest
		for _, w := range rows {
			name := w.PutRequest.Item["secret_name"].(*dbtypes.AttributeValueMemberS).Value
			if dropped[name] < 3 && rand.N(4) == 0 { // at random, at most three times a row, it is left unprocessed
				dropped[name]++
				unprocessed = append(unprocessed, w)
				continue
			}
			written[name]++
		}
		return &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]dbtypes.WriteRequest{"audit": unprocessed}}, nil
	}}
	c := newTestChecker(secrets, table, nil)
	res, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 2000)
	is.Equal(res.Written, 2000)
	is.True(len(dropped) > 0)    // some rows did come back unprocessed
	is.True(len(throttles) > 0)  // and some batches were throttled
	is.Equal(len(written), 2000) // every secret...
	for name, n := range written {
		if n != 1 {
			t.Errorf("%s written %d times", name, n) // ...exactly once
		}
	}
}

// A writer that fails mid-run stops the run; the error says so and the
// written count is exactly what went through.
func TestRunWriterErrorMidRun(t *testing.T) {
	is := is.New(t)
	var calls atomic.Int32
	var through atomic.Int32
	table := &fakeTable{BatchWriteItemFn: func(_ context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
		if calls.Add(1) == 7 {
			return nil, errors.New("InternalServerError: try again")
		}
		through.Add(int32(len(in.RequestItems["audit"])))
		return &dynamodb.BatchWriteItemOutput{}, nil
	}}
	res, err := newTestChecker(paged(managed(1000), nil), table, nil).Run(context.Background(), Event{})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "write audit batch: InternalServerError"))
	is.Equal(res.Written, int(through.Load()))                                          // exact
	is.True(strings.Contains(err.Error(), fmt.Sprintf("%d rows written", res.Written))) // and reported
	is.True(res.Written < 1000)                                                         // it stopped
}

// The run's log line is a CloudWatch Embedded Metric Format record: the
// metrics it declares are at its root, as numbers, with the dimension.
func TestRunLogLineIsEMF(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("failed=%v", fail), func(t *testing.T) {
			is := is.New(t)
			var logs strings.Builder
			table := (&recorder{}).table()
			if fail {
				table = &fakeTable{BatchWriteItemFn: func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
					return nil, errors.New("AccessDeniedException")
				}}
			}
			c := newTestChecker(paged(managed(3), nil), table, &logs)
			_, err := c.Run(context.Background(), Event{})
			is.Equal(err != nil, fail)
			var line map[string]any
			is.NoErr(json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line)) // one JSON line
			checkEMF(t, line)
			is.Equal(line["Stack"], "rotcheck")
			is.Equal(line["RunsCompleted"], map[bool]float64{false: 1, true: 0}[fail]) // a failed run completes nothing
			is.Equal(line["Checked"], 3.0)
		})
	}
}

// checkEMF validates a log record against the Embedded Metric Format
// specification's required keys.
func checkEMF(t *testing.T, line map[string]any) {
	t.Helper()
	is := is.New(t)
	meta, ok := line["_aws"].(map[string]any)
	is.True(ok) // _aws is an object at the root
	ts, ok := meta["Timestamp"].(float64)
	is.True(ok && ts > 1e12) // milliseconds since the epoch
	directives, ok := meta["CloudWatchMetrics"].([]any)
	is.True(ok && len(directives) > 0)
	for _, d := range directives {
		d := d.(map[string]any)
		ns, _ := d["Namespace"].(string)
		is.True(ns != "")
		for _, set := range d["Dimensions"].([]any) {
			for _, dim := range set.([]any) {
				_, ok := line[dim.(string)].(string)
				is.True(ok) // every dimension is a string member of the root
			}
		}
		metrics := d["Metrics"].([]any)
		is.True(len(metrics) > 0 && len(metrics) <= 100)
		for _, m := range metrics {
			name := m.(map[string]any)["Name"].(string)
			_, ok := line[name].(float64)
			is.True(ok) // every metric is a number at the root
		}
	}
}

// The calls a run makes for 1,000 secrets, in three mixes: the minimum,
// pages plus batches, plus one lookup per secret changed by hand within
// MaxAgeDays.
func TestRunCallsPerMix(t *testing.T) {
	mix := func(name string, edit func(i int, s *smtypes.SecretListEntry)) []smtypes.SecretListEntry {
		var out []smtypes.SecretListEntry
		for i := range 1000 {
			s := secret(fmt.Sprintf("%s-%04d", name, i), 200*day, "Managed", "true")
			edit(i, &s)
			out = append(out, s)
		}
		return out
	}
	tests := []struct {
		name        string
		population  []smtypes.SecretListEntry
		wantLookups int
	}{
		{"all rotated", mix("rotated", func(_ int, s *smtypes.SecretListEntry) { s.LastRotatedDate = aws.Time(testNow.Add(-5 * day)) }), 0},
		{"all fresh", mix("fresh", func(_ int, s *smtypes.SecretListEntry) {
			s.CreatedDate, s.LastChangedDate = aws.Time(testNow.Add(-3*day)), aws.Time(testNow.Add(-3*day))
		}), 0},
		{"10% changed by hand", mix("edited", func(i int, s *smtypes.SecretListEntry) {
			if i%10 == 0 {
				s.LastChangedDate = aws.Time(testNow.Add(-time.Hour))
			}
		}), 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var lists, lookups, writes atomic.Int32
			secrets := paged(tt.population, nil)
			list := secrets.ListSecretsFn
			secrets.ListSecretsFn = func(ctx context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
				lists.Add(1)
				return list(ctx, in)
			}
			secrets.ListSecretVersionIdsFn = func(context.Context, *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
				lookups.Add(1)
				return &secretsmanager.ListSecretVersionIdsOutput{Versions: []smtypes.SecretVersionsListEntry{
					{VersionStages: []string{"AWSCURRENT"}, CreatedDate: aws.Time(testNow.Add(-150 * day))},
				}}, nil
			}
			table := &fakeTable{BatchWriteItemFn: func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
				writes.Add(1)
				return &dynamodb.BatchWriteItemOutput{}, nil
			}}
			res, err := newTestChecker(secrets, table, nil).Run(context.Background(), Event{})
			is.NoErr(err)
			is.Equal(res.Written, 1000)
			is.Equal(int(lists.Load()), 10)               // 1,000 / 100 per page
			is.Equal(int(writes.Load()), 40)              // 1,000 / 25 per batch
			is.Equal(int(lookups.Load()), tt.wantLookups) // only the secrets changed by hand
			t.Logf("%s: %d ListSecrets + %d BatchWriteItem + %d ListSecretVersionIds = %d calls",
				tt.name, lists.Load(), writes.Load(), lookups.Load(), lists.Load()+writes.Load()+lookups.Load())
		})
	}
}

// A secret rotated 60 days ago is not flagged on its rotation alone when
// it changed since: a value put by hand 5 days ago is 5 days old, while a
// tag edit leaves the 60-day-old value, and one lookup each tells them
// apart.
func TestRunChangeAfterAnOldRotation(t *testing.T) {
	is := is.New(t)
	put := secret("put-by-hand", 200*day, "Managed", "true")
	tagged := secret("tag-edited", 200*day, "Managed", "true")
	for _, s := range []*smtypes.SecretListEntry{&put, &tagged} {
		s.LastRotatedDate = aws.Time(testNow.Add(-60 * day))
		s.LastChangedDate = aws.Time(testNow.Add(-5 * day))
	}
	v := &versions{currentAgo: map[string]time.Duration{"put-by-hand": 5 * day, "tag-edited": 60 * day}}
	secrets := paged([]smtypes.SecretListEntry{put, tagged}, nil)
	secrets.ListSecretVersionIdsFn = v.list
	var rec recorder
	res, err := newTestChecker(secrets, rec.table(), nil).Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.LookedUp, 2)
	is.Equal(v.calls, map[string]int{"put-by-hand": 1, "tag-edited": 1}) // one lookup each
	rows := rec.records(t)
	is.Equal(len(rows), 2)
	is.Equal(rows[0].SecretName, "put-by-hand")
	is.Equal(rows[0].Status, StatusOK) // its value is 5 days old
	is.Equal(rows[0].Basis, BasisCurrentVersion)
	is.Equal(*rows[0].AgeDays, 5)
	is.Equal(rows[1].Status, StatusNeedsRotation) // a tag edit does not make the value new
	is.Equal(rows[1].Basis, BasisCurrentVersion)
	is.Equal(*rows[1].AgeDays, 60)
	is.Equal(res.Flagged, 1)
}
