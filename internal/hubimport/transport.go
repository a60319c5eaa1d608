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
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// Transport sends BatchImportFindings as one SigV4-signed JSON request. It
// exists for the function's size: the SDK's Security Hub client links a
// serializer for every resource type ASFF knows, about 1.9 MB, which puts
// the arm64 bootstrap over its 10 MB bound. Findings are the SDK's own
// types, marshalled by their field names (ASFF's member names) with the
// unset ones left out, as the SDK's serializer does.
type Transport struct {
	HTTP        aws.HTTPClient
	Credentials aws.CredentialsProvider
	Region      string
	// Endpoint is the service's base URL; empty means AWS's, for Region.
	Endpoint string
	// Now stamps the signature; nil means time.Now.
	Now func() time.Time
}

var _ BatchImporter = (*Transport)(nil)

// BatchImportFindings posts the findings to /findings/import and reads the
// counts and the failed findings from the answer. A refused request (4xx
// or 5xx) is an error naming the service's code and message.
func (t *Transport) BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, _ ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error) {
	body, err := marshalFindings(in.Findings)
	if err != nil {
		return nil, err
	}
	endpoint := t.Endpoint
	if endpoint == "" {
		endpoint = "https://securityhub." + t.Region + ".amazonaws.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/findings/import", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("batch import findings: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := t.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("batch import findings: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "securityhub", t.Region, now()); err != nil {
		return nil, fmt.Errorf("batch import findings: sign: %w", err)
	}
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("batch import findings: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("batch import findings: read the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Code, Message, Type string }
		_ = json.Unmarshal(answer, &e)
		code := e.Code
		if code == "" {
			code = e.Type
		}
		if code == "" {
			code = resp.Header.Get("X-Amzn-Errortype")
		}
		return nil, fmt.Errorf("batch import findings: %s: %s %s", resp.Status, code, e.Message)
	}
	var out struct {
		FailedCount, SuccessCount int32
		FailedFindings            []types.ImportFindingsError
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return nil, fmt.Errorf("batch import findings: the answer is not JSON: %w", err)
	}
	return &securityhub.BatchImportFindingsOutput{FailedCount: aws.Int32(out.FailedCount), SuccessCount: aws.Int32(out.SuccessCount),
		FailedFindings: out.FailedFindings}, nil
}

// marshalFindings is {"Findings": [...]} with every unset member (a nil
// pointer, slice or map, or an empty object) left out.
func marshalFindings(findings []types.AwsSecurityFinding) ([]byte, error) {
	raw, err := json.Marshal(findings)
	if err != nil {
		return nil, fmt.Errorf("marshal findings: %w", err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("marshal findings: %w", err)
	}
	list, ok := prune(v).([]any)
	if !ok || len(list) != len(findings) {
		return nil, errors.New("marshal findings: a finding marshalled to nothing")
	}
	return json.Marshal(map[string]any{"Findings": list})
}

// prune removes nulls and empty objects and lists, recursively.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e = prune(e); e == nil {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		kept := x[:0]
		for _, e := range x {
			if e = prune(e); e != nil {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			return nil
		}
		return kept
	}
	return v
}
