package hubimport

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/findings"
)

// answer is one canned response of a test server.
type answer struct {
	status int
	body   string
}

// hubServer answers with the given responses in turn (the last one again
// once they run out) and keeps each request it got.
type hubServer struct {
	answers []answer
	got     []*http.Request
	bodies  []string
}

func (h *hubServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.got, h.bodies = append(h.got, r), append(h.bodies, string(b))
	a := h.answers[min(len(h.got), len(h.answers))-1]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// transportTo is a Transport to srv that records its waits instead of
// sleeping.
func transportTo(srv *httptest.Server, waits *[]time.Duration) *Transport {
	return &Transport{
		HTTP: srv.Client(), Region: "eu-west-1", Endpoint: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "session-token"),
		Now:         func() time.Time { return time.Date(2026, 12, 27, 11, 0, 0, 0, time.UTC) },
		Sleep: func(_ context.Context, d time.Duration) error {
			*waits = append(*waits, d)
			return nil
		},
	}
}

func oneFinding(t *testing.T) []findings.SecurityFinding {
	t.Helper()
	s, err := findings.SecretOf("db", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf")
	if err != nil {
		t.Fatal(err)
	}
	s.Flagged, s.MaxAgeDays, s.CheckedAt = true, 30, time.Date(2026, 12, 27, 11, 0, 0, 0, time.UTC)
	return []findings.SecurityFinding{findings.ASFF(s)}
}

// One signed POST to /findings/import, the findings as ASFF JSON, and the
// answer's counts and failed findings read back.
func TestTransportSignsAndPosts(t *testing.T) {
	is := is.New(t)
	hub := &hubServer{answers: []answer{{200, `{"FailedCount":1,"SuccessCount":0,"FailedFindings":[{"Id":"x","ErrorCode":"InvalidInput","ErrorMessage":"bad"}]}`}}}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	var waits []time.Duration
	out, err := transportTo(srv, &waits).BatchImportFindings(context.Background(), oneFinding(t))
	is.NoErr(err)
	is.Equal(out, BatchOutput{FailedCount: 1, FailedFindings: []FailedFinding{{Id: "x", ErrorCode: "InvalidInput", ErrorMessage: "bad"}}})
	r := hub.got[0]
	is.Equal(r.Method, http.MethodPost)
	is.Equal(r.URL.Path, "/findings/import")
	is.True(strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261227/eu-west-1/securityhub/aws4_request")) // SigV4 for Security Hub in the region
	is.Equal(r.Header.Get("X-Amz-Security-Token"), "session-token")                                                                                  // the role's session
	var body struct{ Findings []map[string]any }
	is.NoErr(json.Unmarshal([]byte(hub.bodies[0]), &body))
	is.Equal(len(body.Findings), 1)
	is.Equal(body.Findings[0]["Id"], "secret-rotation-age/arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf")
	is.Equal(len(waits), 0) // no retry
}

// Throttled, then a server error, then taken: three attempts, with a
// doubling wait between them.
func TestTransportRetriesThrottlingAndServerErrors(t *testing.T) {
	is := is.New(t)
	hub := &hubServer{answers: []answer{
		{429, `{"Code":"LimitExceededException","Message":"slow down"}`},
		{503, `{}`},
		{200, `{"FailedCount":0,"SuccessCount":1,"FailedFindings":[]}`},
	}}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	var waits []time.Duration
	out, err := transportTo(srv, &waits).BatchImportFindings(context.Background(), oneFinding(t))
	is.NoErr(err)
	is.Equal(out.SuccessCount, 1)
	is.Equal(len(hub.got), 3)
	is.Equal(waits, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond})

	hub = &hubServer{answers: []answer{{500, `{"Code":"InternalException","Message":"down"}`}}}
	srv2 := httptest.NewServer(hub)
	defer srv2.Close()
	waits = nil
	_, err = transportTo(srv2, &waits).BatchImportFindings(context.Background(), oneFinding(t))
	is.Equal(len(hub.got), MaxAttempts) // then it gives up
	is.True(err != nil && strings.Contains(err.Error(), "3 attempts: 500 InternalException down"))
}

// A refusal that sending again cannot cure is not sent again; a finding
// that lacks a required member is not sent at all.
func TestTransportDoesNotRetryRefusals(t *testing.T) {
	is := is.New(t)
	hub := &hubServer{answers: []answer{{403, `{"Message":"not authorized to perform securityhub:BatchImportFindings"}`}}}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	var waits []time.Duration
	tr := transportTo(srv, &waits)
	_, err := tr.BatchImportFindings(context.Background(), oneFinding(t))
	is.Equal(len(hub.got), 1)
	is.True(err != nil && strings.Contains(err.Error(), "403") && strings.Contains(err.Error(), "not authorized"))

	bad := oneFinding(t)
	bad[0].Title = ""
	_, err = tr.BatchImportFindings(context.Background(), bad)
	is.True(err != nil && strings.Contains(err.Error(), "Title"))
	is.Equal(len(hub.got), 1) // nothing more sent
}
