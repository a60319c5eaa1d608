package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
)

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var lambdaEnv = map[string]string{
	"TABLE_NAME":            "rotcheck-audit",
	"AWS_REGION":            "eu-west-1",
	"AWS_ACCESS_KEY_ID":     "AKIA",
	"AWS_SECRET_ACCESS_KEY": "secret",
	"AWS_SESSION_TOKEN":     "token",
}

func with(extra map[string]string) map[string]string {
	vars := map[string]string{}
	for k, v := range lambdaEnv {
		vars[k] = v
	}
	for k, v := range extra {
		if v == "<unset>" {
			delete(vars, k)
			continue
		}
		vars[k] = v
	}
	return vars
}

// fakeAWS is an HTTP client that answers the SDK's JSON requests in
// memory, by operation (the X-Amz-Target's last part), and keeps every
// request; answer gets the operation and the number of this call to it.
// The local cloud's admin paths go to admin instead (nil: 404, as AWS).
type fakeAWS struct {
	answer   func(op string, call int) (status int, body string)
	admin    func(path string) (status int, body string)
	mu       sync.Mutex
	calls    map[string]int
	requests []*http.Request
	bodies   []string
}

func (f *fakeAWS) Do(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/_localcloud/") {
		status, out := http.StatusNotFound, `{"message":"not found"}`
		if f.admin != nil {
			status, out = f.admin(r.URL.Path)
		}
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Request: r,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(out))}, nil
	}
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndex(op, ".")+1:]
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	n := f.calls[op]
	f.requests, f.bodies = append(f.requests, r), append(f.bodies, string(body))
	f.mu.Unlock()
	status, out := f.answer(op, n)
	header := http.Header{"Content-Type": {"application/x-amz-json-1.1"}}
	header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(out))), 10)) // as DynamoDB sends
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Request: r,
		Header: header, Body: io.NopCloser(strings.NewReader(out))}, nil
}

func (f *fakeAWS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// oneSecret is a ListSecrets page with one managed secret, created long
// ago and changed an hour ago, so its age needs a ListSecretVersionIds.
func oneSecret(now time.Time) string {
	return fmt.Sprintf(`{"SecretList":[{"ARN":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf","Name":"db",`+
		`"CreatedDate":%d,"LastChangedDate":%d,"Tags":[{"Key":"Managed","Value":"true"}]}]}`,
		now.Add(-200*24*time.Hour).Unix(), now.Add(-time.Hour).Unix())
}

// The checker newChecker builds sends every call to the configured
// endpoint, signed with the runtime's credentials for its region, and
// writes the rows and the run log entry to the configured tables.
func TestNewChecker(t *testing.T) {
	is := is.New(t)
	now := time.Now()
	f := &fakeAWS{answer: func(op string, _ int) (int, string) {
		switch op {
		case "ListSecrets":
			return http.StatusOK, oneSecret(now)
		case "ListSecretVersionIds":
			return http.StatusOK, fmt.Sprintf(`{"Versions":[{"VersionId":"v1","VersionStages":["AWSCURRENT"],"CreatedDate":%d}]}`, now.Add(-40*24*time.Hour).Unix())
		}
		return http.StatusOK, `{}`
	}}
	env := with(map[string]string{"RUNS_TABLE_NAME": "rotcheck-runs", "AWS_ENDPOINT_URL": "http://cloud.test:4566", "MAX_AGE_DAYS": "35"})
	c, err := newChecker(lookup(env), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	is.NoErr(err)
	res, err := c.Handle(context.Background(), []byte(`{}`))
	is.NoErr(err)
	is.Equal(res.Checked, 1)
	is.Equal(res.Flagged, 1) // its value is 40 days old, over MAX_AGE_DAYS 35
	is.Equal([]int{f.count("ListSecrets"), f.count("ListSecretVersionIds"), f.count("BatchWriteItem"), f.count("PutItem")}, []int{1, 1, 1, 1})
	for i, r := range f.requests {
		is.Equal(r.URL.Host, "cloud.test:4566")                                      // AWS_ENDPOINT_URL
		is.True(strings.Contains(r.Header.Get("Authorization"), "Credential=AKIA/")) // the runtime's keys...
		is.True(strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/"))      // ...for its region
		is.Equal(r.Header.Get("X-Amz-Security-Token"), "token")                      // and its session token
		if op := r.Header.Get("X-Amz-Target"); strings.HasSuffix(op, ".BatchWriteItem") {
			is.True(strings.Contains(f.bodies[i], `"rotcheck-audit"`)) // TABLE_NAME
		} else if strings.HasSuffix(op, ".PutItem") {
			is.True(strings.Contains(f.bodies[i], `"rotcheck-runs"`)) // RUNS_TABLE_NAME
		}
	}
}

// The function's clients retry under one policy: a lookup throttled for
// good costs 8 calls (audit's bound), not the SDK's 3 attempts under
// audit's own loop.
func TestRetryPolicyIsSetOnTheClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		now := time.Now()
		f := &fakeAWS{answer: func(op string, _ int) (int, string) {
			switch op {
			case "ListSecrets":
				return http.StatusOK, oneSecret(now)
			case "ListSecretVersionIds":
				return http.StatusBadRequest, `{"__type":"ThrottlingException","message":"Rate exceeded"}`
			}
			return http.StatusOK, `{}`
		}}
		c, err := newChecker(lookup(lambdaEnv), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
		is.NoErr(err)
		_, err = c.Handle(context.Background(), []byte(`{}`))
		is.True(err != nil && strings.Contains(err.Error(), "1 listed secrets were not audited")) // the lookup gave up...
		is.Equal(f.count("ListSecretVersionIds"), 8)                                              // ...after 8 calls
	})
}

func TestNewCheckerErrors(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"no table", with(map[string]string{"TABLE_NAME": "<unset>"}), "TABLE_NAME is required"},
		{"bad max age", with(map[string]string{"MAX_AGE_DAYS": "soon"}), `MAX_AGE_DAYS="soon"`},
		{"no region", with(map[string]string{"AWS_REGION": "<unset>"}), "AWS_REGION is not set"},
		{"no credentials", with(map[string]string{"AWS_SECRET_ACCESS_KEY": "<unset>"}), "no credentials: neither AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			h, err := newChecker(lookup(tt.vars), http.DefaultClient, slog.New(slog.NewTextHandler(io.Discard, nil)))
			is.True(err != nil) // every invocation will fail with this error
			is.True(h == nil)
			is.True(strings.Contains(err.Error(), tt.want))
			_, invokeErr := failing{err}.Invoke(context.Background(), []byte(`{}`))
			is.Equal(invokeErr, err) // what every invocation then answers
		})
	}
}

func TestAWSConfigRegionFallback(t *testing.T) {
	is := is.New(t)
	cfg, err := awsConfig(lookup(with(map[string]string{"AWS_REGION": "<unset>", "AWS_DEFAULT_REGION": "ap-south-1"})), http.DefaultClient)
	is.NoErr(err)
	is.Equal(cfg.Region, "ap-south-1")
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want *string
	}{
		{"none", nil, nil},
		{"empty, as the template declares it", map[string]string{"AWS_ENDPOINT_URL": ""}, nil},
		{"global", map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566"}, aws.String("http://localhost:4566")},
		{"service wins", map[string]string{"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_DYNAMODB": "http://b"}, aws.String("http://b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(endpoint(lookup(tt.vars), "DYNAMODB"), tt.want)
		})
	}
}

// Where the runtime gives a container credentials endpoint instead of keys,
// the function uses it, with its authorization token.
func TestContainerCredentials(t *testing.T) {
	is := is.New(t)
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		fmt.Fprintf(w, `{"AccessKeyId":"ASIAC","SecretAccessKey":"s","Token":"t","Expiration":%q}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	defer srv.Close()
	cfg, err := awsConfig(lookup(with(map[string]string{
		"AWS_ACCESS_KEY_ID": "<unset>", "AWS_SECRET_ACCESS_KEY": "<unset>",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "let-me-in",
	})), http.DefaultClient)
	is.NoErr(err)
	creds, err := cfg.Credentials.Retrieve(context.Background())
	is.NoErr(err)
	is.Equal(creds.AccessKeyID, "ASIAC") // from the endpoint
	is.Equal(auth, "let-me-in")          // which was asked with the token

	tokenFile := filepath.Join(t.TempDir(), "token")
	is.NoErr(os.WriteFile(tokenFile, []byte("from-file\n"), 0o600))
	cfg, err = awsConfig(lookup(with(map[string]string{
		"AWS_ACCESS_KEY_ID": "<unset>", "AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
	})), http.DefaultClient)
	is.NoErr(err)
	_, err = cfg.Credentials.Retrieve(context.Background())
	is.NoErr(err)
	is.Equal(auth, "from-file") // a token file wins, as the SDK documents
}

// Every line the function prints is JSON, the Lambda runtime library's own
// error and warning lines included.
func TestEveryLineIsJSON(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	logger := newLogger(&out)
	defer log.SetOutput(os.Stderr)
	logger.Info("rotation check finished", "checked", 2)
	log.Printf("%s", `{"errorMessage":"boom","errorType":"errorString"}`) // what aws-lambda-go prints for a failed invocation
	log.Print("WARNING! Failed to register internal extension! SIGTERM events may not be enabled!")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	is.Equal(len(lines), 3)
	var records []map[string]any
	for _, l := range lines {
		var m map[string]any
		is.NoErr(json.Unmarshal([]byte(l), &m)) // JSON, every one
		records = append(records, m)
	}
	is.Equal(records[1]["level"], "ERROR")
	is.Equal(records[1]["error"], map[string]any{"errorMessage": "boom", "errorType": "errorString"}) // an object, not a quoted string
	is.Equal(records[2]["level"], "WARN")
}

// The SDK's client keeps an idle connection for every call a run has in
// flight (lookups, writers and the lister), so no call waits on a new
// connection (on AWS, a TLS handshake): two rounds of that many calls at
// once, through the client, open connections in the first round only.
func TestHTTPClientKeepsAConnectionPerCallInFlight(t *testing.T) {
	is := is.New(t)
	inFlight := audit.DefaultLookups + audit.DefaultWriters + 1
	var mu sync.Mutex
	opened := 0
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		wait := release
		mu.Unlock()
		arrived <- struct{}{}
		<-wait // every call stays in flight until all have arrived
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	client := httpClient()
	round := func() int {
		mu.Lock()
		before := opened
		release = make(chan struct{})
		mu.Unlock()
		var calls sync.WaitGroup
		errs := make(chan error, inFlight)
		for range inFlight {
			calls.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		for range inFlight {
			<-arrived
		}
		mu.Lock()
		close(release)
		mu.Unlock()
		calls.Wait()
		close(errs)
		for err := range errs {
			is.NoErr(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return opened - before
	}
	is.Equal(round(), inFlight) // one connection per call in flight...
	is.Equal(round(), 0)        // ...all kept, so the next round opens none
}

// In the embedded local cloud, whose clock runs ahead of this machine's,
// the function takes the cloud's time: a fire at cloud time is not "in
// the future", and a manual invoke is judged at cloud time. A
// scheduled_time ahead of that clock is refused, with nothing written.
func TestFunctionTakesTheLocalCloudsClock(t *testing.T) {
	cloudNow := time.Now().Add(31 * 24 * time.Hour).UTC().Truncate(time.Second) // make local-up, then clock -advance 31d
	tests := []struct {
		name        string
		payload     string
		wantChecked string // empty: refused
	}{
		{"a fire at cloud time", fmt.Sprintf(`{"scheduled_time":%q}`, cloudNow.Format(time.RFC3339)), cloudNow.Format(time.RFC3339)},
		{"a manual invoke", `{}`, cloudNow.Format(time.RFC3339)},
		{"2030", `{"scheduled_time":"2030-01-01T00:00:00Z"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			f := &fakeAWS{
				answer: func(op string, _ int) (int, string) { return http.StatusOK, `{}` },
				admin: func(path string) (int, string) {
					if path == clockapi.InfoPath {
						return http.StatusOK, `{"emulator":"kumo","runner":true}`
					}
					return http.StatusOK, fmt.Sprintf(`{"now":%q,"speed":1}`, cloudNow.Format(time.RFC3339))
				},
			}
			env := with(map[string]string{"RUNS_TABLE_NAME": "rotcheck-runs", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
			c, err := newChecker(lookup(env), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
			is.NoErr(err)
			res, err := c.Handle(context.Background(), []byte(tt.payload))
			if tt.wantChecked != "" {
				is.NoErr(err)
				is.Equal(res.CheckedAt, tt.wantChecked) // judged at the cloud's time
				is.Equal(f.count("PutItem"), 1)
				return
			}
			is.True(err != nil && strings.Contains(err.Error(), "2030-01-01T00:00:00Z is 1") && strings.Contains(err.Error(), "ahead of the function's clock ("+cloudNow.Format(time.RFC3339)+")"))
			is.Equal(len(f.requests), 0) // no AWS call: no rows, no run log entry
		})
	}
}

// Elsewhere (AWS, or an emulator without the local cloud's clock) the
// function's clock is the machine's: the payload dated 2030 is
// refused before any call.
func TestFunctionRefusesAFutureScheduledTime(t *testing.T) {
	is := is.New(t)
	f := &fakeAWS{answer: func(string, int) (int, string) { return http.StatusOK, `{}` }}
	env := with(map[string]string{"RUNS_TABLE_NAME": "rotcheck-runs", "AWS_ENDPOINT_URL": "http://localstack.test:4566"})
	c, err := newChecker(lookup(env), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	is.NoErr(err)
	_, err = c.Invoke(context.Background(), []byte(`{"scheduled_time":"2030-01-01T00:00:00Z"}`))
	is.True(err != nil && strings.Contains(err.Error(), "event scheduled_time 2030-01-01T00:00:00Z is ")) // names the problem...
	is.True(strings.Contains(err.Error(), "ahead of the function's clock"))                               // ...and why
	is.Equal(len(f.requests), 0)                                                                          // nothing written
}
