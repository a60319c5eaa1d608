package tests

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// operations is an HTTP transport that records the operation of every
// request (its X-Amz-Target), so a test can prove what the read side sent.
type operations struct {
	mu  sync.Mutex
	ops []string
}

func (o *operations) RoundTrip(r *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.ops = append(o.ops, r.Header.Get("X-Amz-Target"))
	o.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (o *operations) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := map[string]int{}
	for _, op := range o.ops {
		n[op]++
	}
	return n
}

// The read side on a stack with 40 days of hourly runs, one of which
// failed: the run log has every run and the failed one's error, the report
// and the history answer, and they send nothing but Queries, as few as the
// design says.
func TestReadSide(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	cloud, c, s := cloudOf(t, "vread", start, nil)
	_, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "20d"})
	is.NoErr(err)

	// One hour of failure: the function loses its table.
	_, err = c.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(s.Function),
		Environment: &ltypes.Environment{Variables: map[string]string{"TABLE_NAME": "no-such-table", "RUNS_TABLE_NAME": "vread-runs", "STACK_NAME": "vread"}}})
	is.NoErr(err)
	moved, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "1h"})
	is.NoErr(err)
	is.Equal(moved.Failed, 1)
	d := deployer("vread", nil) // a redeploy puts the configuration back

	d.Clients = c
	_, err = d.Deploy(ctx, env.tmpl)
	is.NoErr(err)
	_, err = clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: "20d"})
	is.NoErr(err)

	ops := &operations{}
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(cloud.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: &http.Client{Transport: ops}})
	store := &report.Store{DB: db, Table: s.Table, RunsTable: "vread-runs"}
	now := cloud.Scheduler().Clock().Now()

	runs, err := store.Runs(ctx, start, now)
	is.NoErr(err)
	is.Equal(len(runs), 961) // 40 days and an hour, every run, complete or not
	var failed int
	for _, r := range runs {
		if !r.Complete {
			failed++
			is.True(strings.Contains(r.Error, "no-such-table")) // the failed run's entry says why
		}
	}
	is.Equal(failed, 1)
	is.Equal(ops.counts(), map[string]int{"DynamoDB_20120810.Query": 2}) // October and November: a Query per month

	ops.ops = nil
	found, err := store.LatestRun(ctx, now)
	is.NoErr(err)
	latest := found.Run
	is.True(latest.Complete)
	rows, err := store.Rows(ctx, latest.RunID)
	is.NoErr(err)
	r := report.NewReport("vread", latest, rows, false)
	is.Equal(len(r.Rows), 2)                                             // both seeded secrets are 40 days old
	is.Equal(ops.counts(), map[string]int{"DynamoDB_20120810.Query": 2}) // the latest run, its rows

	ops.ops = nil
	h, err := report.BuildHistory(ctx, store, "vread", start, start.AddDate(0, 3, 0), now, report.Schedule{Expression: "rate(1 hour)"})
	is.NoErr(err)
	is.Equal(h.Recorded, 960)
	is.Equal(h.Expected, 961) // the failed hour is a gap
	is.Equal(len(h.Gaps), 1)
	is.Equal(len(h.Days), 41)
	is.Equal(h.Secrets[0].DaysFlagged, 11)                                           // October 31st to November 10th: from the first run more than 30 days (elapsed) after the secrets were created
	is.Equal(ops.counts(), map[string]int{"DynamoDB_20120810.Query": 1 + 2 + 1 + 2}) // the first run ever, the run log's two months, the state before the period (none: one Query) and the changes' two months, not a Query per day: no Scan, ever

	// The quarter before the stack existed expects nothing of it: it has
	// no gap.
	ops.ops = nil
	before, err := report.BuildHistory(ctx, store, "vread", start.AddDate(0, -3, 0), start, now, report.Schedule{Expression: "rate(1 hour)"})
	is.NoErr(err)
	is.Equal(before.Expected, 0)
	is.Equal(len(before.Gaps), 0)
	is.True(!before.ControlStart.Before(start) && before.ControlStart.Before(start.Add(2*time.Hour))) // the first hourly run
	is.Equal(ops.counts(), map[string]int{"DynamoDB_20120810.Query": 3 + 1})                          // July to September, and the first run

	ops.ops = nil
	hist, err := store.SecretHistory(ctx, s.Fresh, start, now)
	is.NoErr(err)
	is.Equal(len(hist), 960)
	is.Equal(ops.counts()["DynamoDB_20120810.Query"], len(ops.ops)) // one partition, key conditions only

	// The failed run was also sent to the dead-letter queue.
	url, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("vread-dlq")})
	is.NoErr(err)
	msgs, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10})
	is.NoErr(err)
	is.Equal(len(msgs.Messages), 1)
	is.True(bytes.Contains([]byte(aws.ToString(msgs.Messages[0].Body)), []byte(`"condition":"RetriesExhausted"`)))
}
