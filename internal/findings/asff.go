package findings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// SchemaVersion is the ASFF schema version, the only one there is.
const SchemaVersion = "2018-10-08"

// ASFF is the secret's Security Hub finding, ready for BatchImportFindings:
//   - Id: ID(secret ARN); ProductArn: the account's own default product;
//   - CreatedAt: first seen (Created); UpdatedAt: the run's checked_at, so
//     each run's finding is newer than the last and Security Hub keeps it;
//   - FindingProviderFields: severity MEDIUM when the secret needs
//     rotation (as AWS's own SecretsManager.4 control), INFORMATIONAL
//     otherwise, and the finding type (providers set these there, not at
//     the top level, which belongs to the customer);
//   - Compliance.Status FAILED or PASSED, NOT_AVAILABLE for a gone secret,
//     whose RecordState is ARCHIVED (ACTIVE otherwise);
//   - Resources[0]: the secret, with its rotation details.
//
// Workflow is left out: it belongs to the customer (BatchUpdateFindings).
func ASFF(s Secret) types.AwsSecurityFinding {
	severity, status, state := types.SeverityLabelInformational, types.ComplianceStatusPassed, types.RecordStateActive
	switch {
	case s.Gone():
		status, state = types.ComplianceStatusNotAvailable, types.RecordStateArchived
	case s.Flagged:
		severity, status = types.SeverityLabelMedium, types.ComplianceStatusFailed
	}
	details := &types.AwsSecretsManagerSecretDetails{
		Name:            aws.String(s.Name),
		RotationEnabled: aws.Bool(s.RotationEnabled),
		// Rotation happened within its schedule: enabled and not overdue.
		RotationOccurredWithinFrequency: aws.Bool(s.RotationEnabled && !s.RotationOverdue),
	}
	if s.Gone() {
		details.Deleted = aws.Bool(true)
	}
	fields := map[string]string{
		"rotation-audit/max_age_days": strconv.Itoa(s.MaxAgeDays),
	}
	if s.Reason != "" {
		fields["rotation-audit/reason"] = s.Reason
	}
	if s.AgeDays != nil {
		fields["rotation-audit/age_days"] = strconv.Itoa(*s.AgeDays)
	}
	f := types.AwsSecurityFinding{
		SchemaVersion: aws.String(SchemaVersion),
		Id:            aws.String(ID(s.ARN)),
		ProductArn:    aws.String(ProductARN(s.Partition, s.Region, s.AccountID)),
		GeneratorId:   aws.String(GeneratorID),
		AwsAccountId:  aws.String(s.AccountID),
		Region:        aws.String(s.Region),
		CreatedAt:     aws.String(stamp(s.Created())),
		UpdatedAt:     aws.String(stamp(s.CheckedAt)),
		Title:         aws.String(s.Title()),
		Description:   aws.String(s.Description()),
		FindingProviderFields: &types.FindingProviderFields{
			Severity: &types.FindingProviderSeverity{Label: severity, Original: aws.String(string(severity))},
			Types:    []string{FindingType},
		},
		Compliance:    &types.Compliance{Status: status},
		RecordState:   state,
		ProductFields: fields,
		Resources: []types.Resource{{
			Type:      aws.String(ResourceType),
			Id:        aws.String(s.ARN),
			Partition: types.Partition(s.Partition),
			Region:    aws.String(s.Region),
			Details:   &types.ResourceDetails{AwsSecretsManagerSecret: details},
		}},
	}
	if s.Flagged && !s.Gone() {
		f.Remediation = &types.Remediation{Recommendation: &types.Recommendation{
			Text: aws.String("Rotate the secret (turn on automatic rotation, or put a new value and retire the old one), or remove it if it is no longer used."),
			Url:  aws.String("https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets.html"),
		}}
	}
	return f
}

// stamp is an instant as ASFF writes it: ISO 8601 in UTC, to the millisecond.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// MarshalASFF encodes findings as a JSON array exactly as BatchImportFindings
// sends them, ready for `aws securityhub batch-import-findings --findings
// file://findings.json`. It runs the SDK's own input validation and
// serializer in memory (its HTTP client answers without a network), since
// the SDK's types carry no JSON tags of their own: encoding/json would
// write every unset field as null. A finding the SDK rejects is an error.
func MarshalASFF(ctx context.Context, findings []types.AwsSecurityFinding) ([]byte, error) {
	capture := &captureClient{}
	client := securityhub.New(securityhub.Options{
		Region:           "us-east-1", // any: nothing is sent
		Credentials:      aws.AnonymousCredentials{},
		BaseEndpoint:     aws.String("http://securityhub.invalid"),
		HTTPClient:       capture,
		RetryMaxAttempts: 1,
	})
	if findings == nil {
		findings = []types.AwsSecurityFinding{}
	}
	if _, err := client.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: findings}); err != nil {
		return nil, fmt.Errorf("encode ASFF findings: %w", err)
	}
	// Decoded and encoded again, for maps (ProductFields) in key order
	// rather than the SDK's map order, and numbers exactly as sent.
	var body struct{ Findings []any }
	dec := json.NewDecoder(bytes.NewReader(capture.body))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("encode ASFF findings: read the SDK's request: %w", err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(body.Findings); err != nil {
		return nil, fmt.Errorf("encode ASFF findings: %w", err)
	}
	return out.Bytes(), nil
}

// captureClient is an HTTP client that keeps the request body and answers
// as Security Hub does when every finding is imported.
type captureClient struct{ body []byte }

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.body = body
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader([]byte(`{"FailedCount":0,"SuccessCount":0,"FailedFindings":[]}`))),
		Request:    r,
	}, nil
}
