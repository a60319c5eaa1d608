package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/matryer/is"
)

// fakeAWS is an HTTP client that answers the SDK's JSON requests in
// memory, by operation (the X-Amz-Target's last part), counting the calls;
// answer gets the operation and the number of this call to it. Being in
// memory, it lets the SDK's retries, backoff included, run in a synctest
// bubble.
type fakeAWS struct {
	answer func(op string, call int) (status int, body string)
	mu     sync.Mutex
	calls  map[string]int
}

func (f *fakeAWS) Do(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndex(op, ".")+1:]
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	n := f.calls[op]
	f.mu.Unlock()
	status, body := f.answer(op, n)
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Request: r,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

func (f *fakeAWS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// throttled is the answer of a throttled call.
const throttled = `{"__type":"ThrottlingException","message":"Rate exceeded"}`

// throttleFirst throttles the first n calls to op, then answers ok; other
// operations always get ok.
func throttleFirst(op string, n int, ok string) func(string, int) (int, string) {
	return func(got string, call int) (int, string) {
		if got == op && call <= n {
			return http.StatusBadRequest, throttled
		}
		return http.StatusOK, ok
	}
}

// sdkChecker is a Checker on real SDK clients, configured as the function
// configures them (Retryer: NewRetryer), whose HTTP calls go to f.
func sdkChecker(f *fakeAWS) *Checker {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		HTTPClient: f, Retryer: NewRetryer}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String("http://aws.test") })
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String("http://aws.test") })
	c := New(sm, db, Config{TableName: "audit", RunsTableName: "runs", MaxAgeDays: 30, TagKey: "Managed", TagValue: "true", RetentionDays: 400},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	c.Now = func() time.Time { return testNow }
	return c
}

// currentAt is a ListSecretVersionIds answer whose AWSCURRENT version was
// created at t.
func currentAt(t time.Time) string {
	return fmt.Sprintf(`{"Versions":[{"VersionId":"v1","VersionStages":["AWSCURRENT"],"CreatedDate":%d}]}`, t.Unix())
}

// Each call path has one retry policy: a request costs at most
// maxAttempts calls, counted under injected throttling, where two stacked
// layers (the SDK's 3 attempts under a loop of 5) cost up to 15.
func TestRetryPolicyLookups(t *testing.T) {
	created := testNow.Add(-40 * day)
	secondPage := func(throttles int) func(string, int) (int, string) {
		return func(_ string, call int) (int, string) {
			switch {
			case call == 1: // a first page without AWSCURRENT
				return http.StatusOK, `{"Versions":[{"VersionId":"v0","VersionStages":["AWSPREVIOUS"],"CreatedDate":1}],"NextToken":"p2"}`
			case call <= 1+throttles:
				return http.StatusBadRequest, throttled
			}
			return http.StatusOK, currentAt(created)
		}
	}
	tests := []struct {
		name      string
		answer    func(string, int) (int, string)
		wantCalls int
		wantErr   string
	}{
		{"not throttled", throttleFirst("ListSecretVersionIds", 0, currentAt(created)), 1, ""},
		{"throttled 3 times", throttleFirst("ListSecretVersionIds", 3, currentAt(created)), 4, ""},
		{"throttled 7 times", throttleFirst("ListSecretVersionIds", 7, currentAt(created)), 8, ""},
		{"throttled for good", throttleFirst("ListSecretVersionIds", 1000, currentAt(created)), maxAttempts, "ThrottlingException"},
		{"second page throttled 7 times: a page is no attempt", secondPage(7), 1 + 8, ""},
		{"second page throttled for good", secondPage(1000), 1 + maxAttempts, "ThrottlingException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				is := is.New(t)
				f := &fakeAWS{answer: tt.answer}
				start := time.Now()
				got, err := sdkChecker(f).currentVersion(context.Background(), "arn:aws:secretsmanager:us-east-1:1:secret:x")
				is.Equal(f.count("ListSecretVersionIds"), tt.wantCalls) // one policy: at most maxAttempts calls a page
				is.True(time.Since(start) <= 2*6350*time.Millisecond)   // full jitter, at most about 6 s a page
				if tt.wantErr != "" {
					is.True(err != nil && strings.Contains(err.Error(), tt.wantErr))
					return
				}
				is.NoErr(err)
				is.True(got.Equal(created))
			})
		})
	}
}

// BatchWriteItem's throttling and UnprocessedItems share one loop of at
// most maxAttempts calls: the SDK sends each call once.
func TestRetryPolicyBatchWrites(t *testing.T) {
	row := `{"PutRequest":{"Item":{"secret_name":{"S":"a"},"run_id":{"S":"r"}}}}`
	unprocessed := `{"UnprocessedItems":{"audit":[` + row + `]}}`
	tests := []struct {
		name      string
		answer    func(string, int) (int, string)
		wantCalls int
		wantLeft  int
		wantErr   string
	}{
		{"throttled 3 times", throttleFirst("BatchWriteItem", 3, `{}`), 4, 0, ""},
		{"throttled for good", throttleFirst("BatchWriteItem", 1000, `{}`), maxAttempts, 2, "ThrottlingException"},
		{"throttled twice, then unprocessed twice", func(_ string, call int) (int, string) {
			switch {
			case call <= 2:
				return http.StatusBadRequest, throttled
			case call <= 4:
				return http.StatusOK, unprocessed
			}
			return http.StatusOK, `{}`
		}, 5, 0, ""},
		{"throttled 4 times, then unprocessed for good", func(_ string, call int) (int, string) {
			if call <= 4 {
				return http.StatusBadRequest, throttled
			}
			return http.StatusOK, unprocessed
		}, maxAttempts, 1, "1 rows still unprocessed after 8 attempts"},
		{"an error not worth retrying", func(string, int) (int, string) {
			return http.StatusBadRequest, `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}`
		}, 1, 2, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				is := is.New(t)
				f := &fakeAWS{answer: tt.answer}
				rows := []dbtypes.WriteRequest{
					{PutRequest: &dbtypes.PutRequest{Item: map[string]dbtypes.AttributeValue{"secret_name": &dbtypes.AttributeValueMemberS{Value: "a"}}}},
					{PutRequest: &dbtypes.PutRequest{Item: map[string]dbtypes.AttributeValue{"secret_name": &dbtypes.AttributeValueMemberS{Value: "b"}}}},
				}
				left, err := sdkChecker(f).writeBatch(context.Background(), rows)
				is.Equal(f.count("BatchWriteItem"), tt.wantCalls) // one loop, one budget
				is.Equal(left, tt.wantLeft)
				if tt.wantErr != "" {
					is.True(err != nil && strings.Contains(err.Error(), tt.wantErr))
					return
				}
				is.NoErr(err)
			})
		})
	}
}

// A run on the real SDK: ListSecrets throttled for good costs maxAttempts
// calls and fails the run, and the run log's PutItem, throttled twice, is
// retried by the same policy and records the failure.
func TestRetryPolicyRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		f := &fakeAWS{answer: func(op string, call int) (int, string) {
			switch {
			case op == "ListSecrets":
				return http.StatusBadRequest, throttled
			case op == "PutItem" && call <= 2:
				return http.StatusBadRequest, throttled
			}
			return http.StatusOK, `{}`
		}}
		_, err := sdkChecker(f).Run(context.Background(), Event{ScheduledTime: testNow})
		is.True(err != nil && strings.Contains(err.Error(), "list secrets:")) // the run failed, and says why
		is.Equal(f.count("ListSecrets"), maxAttempts)                         // not 3, not 3 x 8
		is.Equal(f.count("PutItem"), 3)                                       // its entry was still written
		is.Equal(f.count("BatchWriteItem"), 0)
	})
}
