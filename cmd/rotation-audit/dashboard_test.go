package main

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// noTables answers every DynamoDB call as a region without the stack's
// tables does.
func noTables(w http.ResponseWriter, r *http.Request) {
	body := []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}`)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(http.StatusBadRequest)
	w.Write(body)
}

// The dashboard checks the stack before it serves: a wrong stack or an
// endpoint that is down is one line and exit status 2, and nothing
// listens.
func TestDashboardChecksBeforeServing(t *testing.T) {
	empty := httptest.NewServer(http.HandlerFunc(noTables))
	defer empty.Close()
	tests := []struct {
		name, endpoint, want string
	}{
		{"no such stack", empty.URL, "table not found: nosuch-runs does not exist (is the stack deployed, and is -stack right?)"},
		{"endpoint down", "http://127.0.0.1:1", "cannot reach http://127.0.0.1:1 (is it running?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			// The deadline only stops a dashboard that serves anyway.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := run(ctx, []string{"dashboard", "-stack", "nosuch", "-endpoint-url", tt.endpoint, "-addr", "127.0.0.1:0"}, &stdout, &stderr)
			is.True(err != nil)                             // it does not serve
			is.True(errors.Is(err, errUsage))               // exit status 2
			is.True(strings.Contains(err.Error(), tt.want)) // naming the problem
			is.True(!strings.Contains(err.Error(), "\n"))   // in one line
			is.Equal(stdout.String(), "")                   // no address was printed
			is.Equal(stderr.String(), "")                   // nor anything else first
		})
	}
}
