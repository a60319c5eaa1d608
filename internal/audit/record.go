package audit

import (
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Record is one audit row: the verdict on one secret in one run. Its DynamoDB
// key is (secret_name, run_id); it holds metadata only, never a secret value.
type Record struct {
	SecretName string `dynamodbav:"secret_name"`
	RunID      string `dynamodbav:"run_id"`
	Status     Status `dynamodbav:"status"`
	Reason     Reason `dynamodbav:"reason"`
	// CheckedAt is the run's start, RFC 3339 in UTC, the same on every row of a run.
	CheckedAt string `dynamodbav:"checked_at"`
	SecretARN string `dynamodbav:"secret_arn"`
	AgeDays   int    `dynamodbav:"age_days"`
	Basis     Basis  `dynamodbav:"basis"`
	// BasisDate is RFC 3339 in UTC, absent when Basis is "none".
	BasisDate       string `dynamodbav:"basis_date,omitempty"`
	RotationEnabled bool   `dynamodbav:"rotation_enabled"`
	// OwningService is set for secrets a service such as RDS rotates itself.
	OwningService string `dynamodbav:"owning_service,omitempty"`
	// ExpiresAt is the DynamoDB TTL attribute, in Unix seconds.
	ExpiresAt int64 `dynamodbav:"expires_at"`
}

// run is what every row of one run shares.
type run struct {
	id         string
	checkedAt  time.Time
	maxAgeDays int
	expiresAt  time.Time
}

// newRecord classifies one listed secret for a run. A secret without a name
// or ARN cannot be recorded, so that is an error naming whichever it has.
func newRecord(s smtypes.SecretListEntry, r run) (Record, error) {
	name, arn := aws.ToString(s.Name), aws.ToString(s.ARN)
	switch {
	case name == "" && arn == "":
		return Record{}, errors.New("a listed secret has neither a name nor an ARN")
	case name == "":
		return Record{}, errors.New("secret " + arn + " has no name")
	case arn == "":
		return Record{}, errors.New("secret " + name + " has no ARN")
	}
	v := Classify(s.LastRotatedDate, s.LastChangedDate, r.checkedAt, r.maxAgeDays)
	rec := Record{
		SecretName:      name,
		RunID:           r.id,
		Status:          v.Status,
		Reason:          v.Reason,
		CheckedAt:       r.checkedAt.UTC().Format(time.RFC3339),
		SecretARN:       arn,
		AgeDays:         v.AgeDays,
		Basis:           v.Basis,
		RotationEnabled: aws.ToBool(s.RotationEnabled),
		OwningService:   aws.ToString(s.OwningService),
		ExpiresAt:       r.expiresAt.Unix(),
	}
	if !v.BasisDate.IsZero() {
		rec.BasisDate = v.BasisDate.UTC().Format(time.RFC3339)
	}
	return rec, nil
}

// RunIndex is the audit table's global secondary index keyed on run_id
// (template.yaml), so one run's rows are one Query.
const RunIndex = "by-run"
