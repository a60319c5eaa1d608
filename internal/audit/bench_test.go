package audit

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// generated serves n secrets page by page, making each page when asked, so
// the benchmark measures the check's memory and not the fixture's.
func generated(n int) *fakeSecrets {
	return &fakeSecrets{ListSecretsFn: func(_ context.Context, in *secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
		start := 0
		if in.NextToken != nil {
			start, _ = strconv.Atoi(*in.NextToken)
		}
		end := min(start+int(aws.ToInt32(in.MaxResults)), n)
		out := &secretsmanager.ListSecretsOutput{SecretList: make([]smtypes.SecretListEntry, 0, end-start)}
		for i := start; i < end; i++ {
			out.SecretList = append(out.SecretList, secret(fmt.Sprintf("svc-%06d", i), time.Duration(i%60)*day, "Managed", "true"))
		}
		if end < n {
			out.NextToken = aws.String(strconv.Itoa(end))
		}
		return out, nil
	}}
}

// BenchmarkRun times a run over n secrets and reports the peak live heap,
// sampled at every write: flat as n grows, because pages stream through.
func BenchmarkRun(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			var peak uint64
			var ms runtime.MemStats
			table := &fakeTable{BatchWriteItemFn: func(context.Context, *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
				return &dynamodb.BatchWriteItemOutput{}, nil
			}}
			c := newTestChecker(generated(n), table, nil)
			runtime.GC()
			b.ResetTimer()
			for b.Loop() {
				res, err := c.Run(context.Background(), Event{})
				if err != nil || res.Written != n {
					b.Fatalf("run: %v, wrote %d of %d", err, res.Written, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/secret")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// BenchmarkJudge times the pure judgement of one secret.
func BenchmarkJudge(b *testing.B) {
	now := time.Now()
	created, changed := now.Add(-400*day), now.Add(-40*day)
	f := Facts{Created: &created, LastChanged: &changed}
	p := Policy{MaxAgeDays: 30, UnusedDays: 90}
	for b.Loop() {
		_ = Judge(f, now, p)
	}
}

// BenchmarkBaseline reads the previous run of n secrets, as a run does
// before judging, and reports what the baseline it keeps weighs: the live
// heap it adds, after garbage collection, per secret and in all.
func BenchmarkBaseline(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			m := &memory{pageSize: 4000} // about 1 MB pages of projected rows
			c := newTestChecker(generated(n), m.table(), nil)
			c.Config.RunsTableName = "runs"
			c.Secrets.(*fakeSecrets).ListSecretVersionIdsFn = func(context.Context, *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
				return nil, fmt.Errorf("no lookup expected")
			}
			first, err := c.Run(context.Background(), Event{ScheduledTime: testNow})
			if err != nil {
				b.Fatal(err)
			}
			var before, after runtime.MemStats
			var base *baseline
			for b.Loop() {
				base = nil
				runtime.GC()
				runtime.ReadMemStats(&before)
				base = &baseline{runID: first.RunID, secrets: map[string]prior{}}
				if err := c.readRows(context.Background(), base, first.RunID); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
			}
			if len(base.secrets) != n {
				b.Fatalf("read %d of %d", len(base.secrets), n)
			}
			held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
			b.ReportMetric(held/float64(n), "B/secret")
			b.ReportMetric(held/(1<<20), "baseline-MiB")
		})
	}
}
