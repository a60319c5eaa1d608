package audit

import (
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Record is one audit row: the verdict on one secret in one run. Its DynamoDB
// key is (secret_name, run_id); it holds metadata only, never a secret value.
// The README's "Audit row" table documents every attribute.
type Record struct {
	SecretName string `dynamodbav:"secret_name" json:"secret_name"`
	RunID      string `dynamodbav:"run_id" json:"run_id"`
	// Status, Reason and Basis are empty only on a tombstone (Change
	// "gone"), which records a secret that left the audit.
	Status Status `dynamodbav:"status,omitempty" json:"status,omitempty"`
	Reason Reason `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	// CheckedAt is the instant the run judged at, RFC 3339 in UTC, the same
	// on every row of a run.
	CheckedAt string `dynamodbav:"checked_at" json:"checked_at"`
	SecretARN string `dynamodbav:"secret_arn" json:"secret_arn"`
	// AgeDays is absent for secrets not judged (owned by a service, replicas).
	AgeDays *int  `dynamodbav:"age_days,omitempty" json:"age_days,omitempty"`
	Basis   Basis `dynamodbav:"basis,omitempty" json:"basis,omitempty"`
	// BasisDate is RFC 3339 in UTC, absent when Basis is "none".
	BasisDate       string `dynamodbav:"basis_date,omitempty" json:"basis_date,omitempty"`
	RotationEnabled bool   `dynamodbav:"rotation_enabled" json:"rotation_enabled"`
	// OwningService is set for secrets a service such as RDS rotates itself.
	OwningService string `dynamodbav:"owning_service,omitempty" json:"owning_service,omitempty"`
	// PrimaryRegion is set for replicated secrets.
	PrimaryRegion string `dynamodbav:"primary_region,omitempty" json:"primary_region,omitempty"`
	// MaxAgeDays is the threshold in force, so history stays readable when
	// it changes.
	MaxAgeDays           int    `dynamodbav:"max_age_days" json:"max_age_days"`
	RotationIntervalDays int    `dynamodbav:"rotation_interval_days,omitempty" json:"rotation_interval_days,omitempty"`
	NextRotationDate     string `dynamodbav:"next_rotation_date,omitempty" json:"next_rotation_date,omitempty"`
	RotationOverdue      bool   `dynamodbav:"rotation_overdue" json:"rotation_overdue"`
	LastAccessedDate     string `dynamodbav:"last_accessed_date,omitempty" json:"last_accessed_date,omitempty"`
	Unused               bool   `dynamodbav:"unused" json:"unused"`
	// CreatedDate, LastChangedDate and LastRotatedDate are the secret's
	// dates the row was judged from, RFC 3339 in UTC to the nanosecond
	// (as listed), absent when the secret has none: the next run reuses
	// this row's basis when they have not moved (see reuse).
	CreatedDate     string `dynamodbav:"created_date,omitempty" json:"created_date,omitempty"`
	LastChangedDate string `dynamodbav:"last_changed_date,omitempty" json:"last_changed_date,omitempty"`
	LastRotatedDate string `dynamodbav:"last_rotated_date,omitempty" json:"last_rotated_date,omitempty"`
	// Change is what changed since the previous complete run (package
	// tables' ChangeNew, ChangeNewlyFlagged, ChangeResolved,
	// ChangeUnchanged, or ChangeGone on a tombstone).
	Change string `dynamodbav:"change,omitempty" json:"change,omitempty"`
	// ChangeMonth is set only when Change is not unchanged (tables.Changed):
	// the UTC month of the run, the key of the sparse change index.
	ChangeMonth string `dynamodbav:"change_month,omitempty" json:"change_month,omitempty"`
	// Changed says what changed in the secret since the previous run,
	// whatever its status did: ChangedRotation, ChangedValue or
	// ChangedMetadata; empty when nothing did, or for a new secret.
	Changed string `dynamodbav:"changed,omitempty" json:"changed,omitempty"`
	// FirstSeen is the checked_at of the run that first saw the secret,
	// carried from row to row.
	FirstSeen string `dynamodbav:"first_seen,omitempty" json:"first_seen,omitempty"`
	// ExpiresAt is the DynamoDB TTL attribute, in Unix seconds.
	ExpiresAt int64 `dynamodbav:"expires_at" json:"expires_at"`
	// AccountID and Region are set in organization mode only (package
	// tables: the org audit table), where one table holds every account
	// and region.
	AccountID string `dynamodbav:"account_id,omitempty" json:"account_id,omitempty"`
	Region    string `dynamodbav:"region,omitempty" json:"region,omitempty"`
}

// Gone reports whether the row is a tombstone: the secret was in the
// previous run and is not in this one. It has no status and was not
// checked.
func (r Record) Gone() bool { return r.Change == tables.ChangeGone }

// Flagged reports whether the row needs rotation.
func (r Record) Flagged() bool { return r.Status == StatusNeedsRotation }

// run is what every row of one run shares.
type run struct {
	id        string
	checkedAt time.Time
	policy    Policy
	expiresAt time.Time
	// month is the change index's key of the run's changed rows.
	month   string
	account string // organization mode only
	// keep, when set, receives every row the run writes (for Security Hub).
	keep *[]Record
}

// identify returns a listed secret's name and ARN. A secret without either
// cannot be recorded, so that is an error naming whichever it has.
func identify(s smtypes.SecretListEntry) (name, arn string, err error) {
	name, arn = aws.ToString(s.Name), aws.ToString(s.ARN)
	switch {
	case name == "" && arn == "":
		return "", "", errors.New("a listed secret has neither a name nor an ARN")
	case name == "":
		return "", "", errors.New("secret " + arn + " has no name")
	case arn == "":
		return "", "", errors.New("secret " + name + " has no ARN")
	}
	return name, arn, nil
}

// newRecord is the row of one secret for a run, from its verdict.
func newRecord(s smtypes.SecretListEntry, f Facts, v Verdict, r run) Record {
	rec := Record{
		SecretName:           aws.ToString(s.Name),
		RunID:                r.id,
		Status:               v.Status,
		Reason:               v.Reason,
		CheckedAt:            r.checkedAt.UTC().Format(time.RFC3339),
		SecretARN:            aws.ToString(s.ARN),
		Basis:                v.Basis,
		RotationEnabled:      f.RotationEnabled,
		OwningService:        f.OwningService,
		PrimaryRegion:        f.PrimaryRegion,
		MaxAgeDays:           r.policy.MaxAgeDays,
		RotationIntervalDays: f.RotationIntervalDays,
		NextRotationDate:     formatDate(f.NextRotation),
		RotationOverdue:      v.RotationOverdue,
		LastAccessedDate:     formatDate(f.LastAccessed),
		Unused:               v.Unused,
		CreatedDate:          exactDate(f.Created),
		LastChangedDate:      exactDate(f.LastChanged),
		LastRotatedDate:      exactDate(f.LastRotated),
		ExpiresAt:            r.expiresAt.Unix(),
	}
	if r.account != "" {
		rec.AccountID, rec.Region = r.account, r.policy.Region
	}
	if v.Judged {
		age := v.AgeDays
		rec.AgeDays = &age
	}
	if !v.BasisDate.IsZero() {
		rec.BasisDate = v.BasisDate.UTC().Format(time.RFC3339)
	}
	return rec
}

// exactDate is RFC 3339 in UTC with the date's fraction of a second, or
// empty for no date: two changes within a second must not look equal.
func exactDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// formatDate is RFC 3339 in UTC, or empty for no date.
func formatDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
