package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
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

func TestNewChecker(t *testing.T) {
	is := is.New(t)
	h, err := newChecker(lookup(lambdaEnv), slog.New(slog.NewTextHandler(io.Discard, nil)))
	is.NoErr(err)
	is.True(h != nil)
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
			h, err := newChecker(lookup(tt.vars), slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	cfg, err := awsConfig(lookup(with(map[string]string{"AWS_REGION": "<unset>", "AWS_DEFAULT_REGION": "ap-south-1"})))
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
	})))
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
	})))
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
// flight, so no call waits on a new connection (on AWS, a TLS handshake).
func TestHTTPClientKeepsAConnectionPerCallInFlight(t *testing.T) {
	is := is.New(t)
	tr := httpClient().GetTransport()
	is.True(tr.MaxIdleConnsPerHost >= audit.DefaultLookups+audit.DefaultWriters+1) // lookups, writers and the lister
}
