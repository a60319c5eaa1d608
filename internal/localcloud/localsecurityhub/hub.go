// Package localsecurityhub is an in-memory AWS Security Hub for the local
// cloud, answering the two operations a finding provider uses:
// BatchImportFindings (POST /findings/import) and GetFindings (POST
// /findings). It speaks the service's REST-JSON protocol, so the real SDK
// client and `aws securityhub` talk to it unchanged. The embedded emulator
// has no Security Hub at all, and moto's GetFindings ignores filters and
// lets an older UpdatedAt overwrite a finding.
//
// It keeps AWS's rules for a provider: findings are kept per account and
// region, keyed by (ProductArn, Id); a re-import updates a finding only
// when its UpdatedAt is newer (an equal or older one is ignored, yet
// counted as a success); CreatedAt and the customer's fields (Workflow,
// Note, UserDefinedFields, VerificationState) stay as they were; 1 to 100
// findings a call; every finding is checked for the attributes ASFF
// requires, and one that lacks any fails alone, in FailedFindings; with
// the account's default product ARN, the finding's AwsAccountId must be
// the caller's account.
//
// Findings are stored as the JSON the caller sent (plus what Security Hub
// adds), so every attribute round-trips without a model of ASFF here.
package localsecurityhub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Hub is an in-memory Security Hub. It is an http.Handler, safe for
// concurrent use; the zero value is not usable: call New.
type Hub struct {
	// Account returns the account a request is made in. New sets it to
	// the hub's default account; the front replaces it once it derives a
	// request's account from its credentials.
	Account func(*http.Request) string

	mu       sync.Mutex
	now      func() time.Time
	region   string // for requests whose signature names none
	findings map[scope]map[key]*finding
}

// scope is where findings live: one account in one region.
type scope struct{ account, region string }

// key identifies a finding within its scope.
type key struct{ product, id string }

// finding is one stored finding: its JSON object, and the times the
// import rules compare.
type finding struct {
	doc     map[string]any
	updated time.Time
}

// New returns an empty hub answering for account, in region unless a
// request's signature names another; now stamps ProcessedAt.
func New(now func() time.Time, region, account string) *Hub {
	return &Hub{
		Account:  func(*http.Request) string { return account },
		now:      now,
		region:   region,
		findings: map[scope]map[key]*finding{},
	}
}

// Handles reports whether a request is for Security Hub: its SigV4
// credential scope names the securityhub service.
func Handles(r *http.Request) bool { return signingService(r) == "securityhub" }

// credentialScope is the Credential=AKID/DATE/REGION/SERVICE/aws4_request
// part of a SigV4 Authorization header, split on "/".
func credentialScope(r *http.Request) []string {
	_, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return nil
	}
	cred, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return nil
	}
	return parts
}

func signingService(r *http.Request) string {
	if p := credentialScope(r); p != nil {
		return p[3]
	}
	return ""
}

// regionOf is the region a request is signed for, or the hub's own.
func (h *Hub) regionOf(r *http.Request) string {
	if p := credentialScope(r); p != nil && p[2] != "" {
		return p[2]
	}
	return h.region
}

// maxRequestBody is BatchImportFindings' limit: 6 MB a call.
const maxRequestBody = 6 << 20

// ServeHTTP answers BatchImportFindings and GetFindings.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	var op func(*Hub, scope, []byte) (any, error)
	switch {
	case r.Method == http.MethodPost && path == "/findings/import":
		op = (*Hub).batchImportFindings
	case r.Method == http.MethodPost && path == "/findings":
		op = (*Hub).getFindings
	default:
		writeError(w, &apiError{http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("the local Security Hub answers BatchImportFindings and GetFindings only, not %s %s", r.Method, r.URL.Path)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		writeError(w, invalidInput("cannot read the request (6 MB at most): %v", err))
		return
	}
	sc := scope{h.Account(r), h.regionOf(r)}
	h.mu.Lock()
	out, err := op(h, sc, body)
	var data []byte
	if err == nil {
		data, err = json.Marshal(out) // under the lock: out shares stored findings
	}
	h.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data) // the client hung up: nobody is left to tell
}

// apiError is an error as REST-JSON sends it: an HTTP status, the error
// type in X-Amzn-ErrorType, and a message.
type apiError struct {
	status  int
	Type    string `json:"Code"`
	Message string `json:"Message"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func invalidInput(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidInputException", fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{http.StatusInternalServerError, "InternalException", err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(e)
}
