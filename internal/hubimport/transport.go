package hubimport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/rotation-audit/rotation-audit/internal/findings"
)

// MaxAttempts is how many times Transport sends one request that Security
// Hub throttles or fails with a server error.
const MaxAttempts = 3

// firstBackoff is the wait before the second attempt; it doubles after.
const firstBackoff = 200 * time.Millisecond

// Transport sends BatchImportFindings as one SigV4-signed JSON request,
// with the SDK's signer (which its core links anyway) and none of its
// Security Hub client: that client and its types link a serializer for
// every resource type ASFF knows, about 1.9 MB, which puts the arm64
// bootstrap over its 10 MB bound. A throttled request (429) or a server
// error (5xx, or no answer) is sent again, MaxAttempts times in all, after
// a doubling wait.
type Transport struct {
	HTTP        aws.HTTPClient
	Credentials aws.CredentialsProvider
	Region      string
	// Endpoint is the service's base URL; empty means AWS's, for Region.
	Endpoint string
	// Now stamps the signature and Sleep waits between attempts; nil means
	// the real clock.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ BatchImporter = (*Transport)(nil)

// apiError is a refused request: its HTTP status and the service's error
// code and message.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string {
	return strings.TrimSpace(fmt.Sprintf("%d %s %s", e.status, e.code, e.message))
}

// retry reports whether sending the same request again may succeed.
func (e *apiError) retry() bool {
	return e.status == http.StatusTooManyRequests || e.status >= 500 ||
		e.code == "ThrottlingException" || e.code == "TooManyRequestsException"
}

// BatchImportFindings posts the findings to /findings/import and reads the
// counts and the failed findings from the answer. A finding that lacks a
// required member stops the call before anything is sent, as the SDK's
// validation does; a refused request is an error naming the service's
// code and message.
func (t *Transport) BatchImportFindings(ctx context.Context, fs []findings.SecurityFinding) (BatchOutput, error) {
	for _, f := range fs {
		if err := f.Validate(); err != nil {
			return BatchOutput{}, fmt.Errorf("batch import findings: %w", err)
		}
	}
	body, err := json.Marshal(struct {
		Findings []findings.SecurityFinding
	}{fs})
	if err != nil {
		return BatchOutput{}, fmt.Errorf("batch import findings: %w", err)
	}
	for attempt := 1; ; attempt++ {
		out, err := t.send(ctx, body)
		switch {
		case err == nil:
			return out, nil
		case attempt == MaxAttempts:
			return out, fmt.Errorf("batch import findings: %d attempts: %w", attempt, err)
		case ctx.Err() != nil || !sendAgain(err):
			return out, fmt.Errorf("batch import findings: %w", err)
		}
		if err := t.sleep(ctx, firstBackoff<<(attempt-1)); err != nil {
			return BatchOutput{}, fmt.Errorf("batch import findings: %w", err)
		}
	}
}

// sendAgain reports whether a failed request is worth sending again: it
// was throttled, the service failed, or no answer came. Security Hub
// ignores a finding sent twice with the same UpdatedAt, so a request that
// was in fact taken does no harm sent again.
func sendAgain(err error) bool {
	var api *apiError
	if errors.As(err, &api) {
		return api.retry()
	}
	return !errors.Is(err, errNoRetry)
}

// errNoRetry marks an error that happened before the request was sent.
var errNoRetry = errors.New("not sent")

// send makes one signed request.
func (t *Transport) send(ctx context.Context, body []byte) (BatchOutput, error) {
	endpoint := t.Endpoint
	if endpoint == "" {
		endpoint = "https://securityhub." + t.Region + ".amazonaws.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/findings/import", bytes.NewReader(body))
	if err != nil {
		return BatchOutput{}, fmt.Errorf("%w: %w", errNoRetry, err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := t.Credentials.Retrieve(ctx)
	if err != nil {
		return BatchOutput{}, fmt.Errorf("%w: credentials: %w", errNoRetry, err)
	}
	sum := sha256.Sum256(body)
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "securityhub", t.Region, now()); err != nil {
		return BatchOutput{}, fmt.Errorf("%w: sign: %w", errNoRetry, err)
	}
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return BatchOutput{}, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return BatchOutput{}, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Code, Message, Type string }
		_ = json.Unmarshal(answer, &e)
		code := e.Code
		if code == "" {
			code = e.Type
		}
		if code == "" {
			code, _, _ = strings.Cut(resp.Header.Get("X-Amzn-Errortype"), ":")
		}
		return BatchOutput{}, &apiError{status: resp.StatusCode, code: code, message: e.Message}
	}
	var out BatchOutput
	if err := json.Unmarshal(answer, &out); err != nil {
		return BatchOutput{}, fmt.Errorf("%w: the answer is not JSON: %w", errNoRetry, err)
	}
	return out, nil
}

func (t *Transport) sleep(ctx context.Context, d time.Duration) error {
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
