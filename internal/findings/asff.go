package findings

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the ASFF schema version, the only one there is.
const SchemaVersion = "2018-10-08"

// The ASFF values this package writes.
const (
	SeverityMedium        = "MEDIUM"
	SeverityInformational = "INFORMATIONAL"
	CompliancePassed      = "PASSED"
	ComplianceFailed      = "FAILED"
	ComplianceUnavailable = "NOT_AVAILABLE"
	RecordActive          = "ACTIVE"
	RecordArchived        = "ARCHIVED"
)

// SecurityFinding is an ASFF finding with only the members this package
// sets: encoding/json writes it exactly as BatchImportFindings takes it
// (the JSON names are ASFF's member names, unset members are left out),
// and the SDK's types.AwsSecurityFinding reads it back unchanged. It is
// hand-written, not the SDK's type, for the function's size: the SDK's
// Security Hub types and client link a model of every resource type ASFF
// knows, about 1.9 MB, which puts the arm64 bootstrap over its 10 MB
// bound. Members are in alphabetical order, the order the SDK's serializer
// writes them, so the report's ASFF output reads as the SDK's would.
type SecurityFinding struct {
	AwsAccountId          string            `json:"AwsAccountId"`
	Compliance            *Compliance       `json:"Compliance,omitempty"`
	CreatedAt             string            `json:"CreatedAt"`
	Description           string            `json:"Description"`
	FindingProviderFields *ProviderFields   `json:"FindingProviderFields,omitempty"`
	GeneratorId           string            `json:"GeneratorId"`
	Id                    string            `json:"Id"`
	ProductArn            string            `json:"ProductArn"`
	ProductFields         map[string]string `json:"ProductFields,omitempty"`
	RecordState           string            `json:"RecordState,omitempty"`
	Region                string            `json:"Region,omitempty"`
	Remediation           *Remediation      `json:"Remediation,omitempty"`
	Resources             []Resource        `json:"Resources"`
	SchemaVersion         string            `json:"SchemaVersion"`
	Title                 string            `json:"Title"`
	UpdatedAt             string            `json:"UpdatedAt"`
}

// Compliance is the finding's compliance status: PASSED, FAILED or
// NOT_AVAILABLE.
type Compliance struct {
	Status string `json:"Status,omitempty"`
}

// ProviderFields are the members a finding provider sets (the top-level
// Severity and Types belong to the customer).
type ProviderFields struct {
	Severity *Severity `json:"Severity,omitempty"`
	Types    []string  `json:"Types,omitempty"`
}

// Severity is the provider's severity: its label, and the same as the
// provider's original value.
type Severity struct {
	Label    string `json:"Label,omitempty"`
	Original string `json:"Original,omitempty"`
}

// Remediation says how to fix what the finding reports.
type Remediation struct {
	Recommendation *Recommendation `json:"Recommendation,omitempty"`
}

// Recommendation is a remediation's text and a link to more.
type Recommendation struct {
	Text string `json:"Text,omitempty"`
	Url  string `json:"Url,omitempty"`
}

// Resource is the finding's resource: the secret.
type Resource struct {
	Details   *ResourceDetails `json:"Details,omitempty"`
	Id        string           `json:"Id"`
	Partition string           `json:"Partition,omitempty"`
	Region    string           `json:"Region,omitempty"`
	Type      string           `json:"Type"`
}

// ResourceDetails holds the details of the resource's type.
type ResourceDetails struct {
	AwsSecretsManagerSecret *SecretDetails `json:"AwsSecretsManagerSecret,omitempty"`
}

// SecretDetails are ASFF's AwsSecretsManagerSecret details.
type SecretDetails struct {
	Deleted                         bool   `json:"Deleted,omitempty"`
	Name                            string `json:"Name,omitempty"`
	RotationEnabled                 bool   `json:"RotationEnabled"`
	RotationOccurredWithinFrequency bool   `json:"RotationOccurredWithinFrequency"`
}

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
// A finding imported by a hub (Secret.HubAccountID) is the hub account's:
// AwsAccountId, ProductArn and Region are the hub's, while its resource
// keeps the secret's ARN and region, and ProductFields name the secret's
// account and region ("rotation-audit/account_id", "rotation-audit/region"),
// so a filter finds one member's findings. Its Id is the same, from the
// secret's ARN, which names the account: two secrets of one name in two
// accounts are two findings.
//
// Workflow is left out: it belongs to the customer (BatchUpdateFindings).
func ASFF(s Secret) SecurityFinding {
	severity, status, state := SeverityInformational, CompliancePassed, RecordActive
	switch {
	case s.Gone():
		status, state = ComplianceUnavailable, RecordArchived
	case s.Flagged:
		severity, status = SeverityMedium, ComplianceFailed
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
	account, region := s.AccountID, s.Region
	if s.HubAccountID != "" {
		account, region = s.HubAccountID, cmp.Or(s.HubRegion, s.Region)
		fields["rotation-audit/account_id"] = s.AccountID
		fields["rotation-audit/region"] = s.Region
	}
	f := SecurityFinding{
		SchemaVersion: SchemaVersion,
		Id:            ID(s.ARN),
		ProductArn:    ProductARN(s.Partition, region, account),
		GeneratorId:   GeneratorID,
		AwsAccountId:  account,
		Region:        region,
		CreatedAt:     stamp(s.Created()),
		UpdatedAt:     stamp(s.CheckedAt),
		Title:         s.Title(),
		Description:   s.Description(),
		FindingProviderFields: &ProviderFields{
			Severity: &Severity{Label: severity, Original: severity},
			Types:    []string{FindingType},
		},
		Compliance:    &Compliance{Status: status},
		RecordState:   state,
		ProductFields: fields,
		Resources: []Resource{{
			Type:      ResourceType,
			Id:        s.ARN,
			Partition: s.Partition,
			Region:    s.Region,
			Details: &ResourceDetails{AwsSecretsManagerSecret: &SecretDetails{
				Name:            s.Name,
				RotationEnabled: s.RotationEnabled,
				// Rotation happened within its schedule: enabled and not overdue.
				RotationOccurredWithinFrequency: s.RotationEnabled && !s.RotationOverdue,
				Deleted:                         s.Gone(),
			}},
		}},
	}
	if s.Flagged && !s.Gone() {
		f.Remediation = &Remediation{Recommendation: &Recommendation{
			Text: "Rotate the secret (turn on automatic rotation, or put a new value and retire the old one), or remove it if it is no longer used.",
			Url:  "https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets.html",
		}}
	}
	return f
}

// stamp is an instant as ASFF writes it: ISO 8601 in UTC, to the millisecond.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Validate reports the members ASFF requires that the finding lacks, as
// the SDK's own input validation would refuse them, so that a broken
// finding is never sent nor written.
func (f SecurityFinding) Validate() error {
	var missing []string
	for _, m := range []struct{ name, value string }{
		{"AwsAccountId", f.AwsAccountId}, {"CreatedAt", f.CreatedAt}, {"Description", f.Description},
		{"GeneratorId", f.GeneratorId}, {"Id", f.Id}, {"ProductArn", f.ProductArn},
		{"SchemaVersion", f.SchemaVersion}, {"Title", f.Title}, {"UpdatedAt", f.UpdatedAt},
	} {
		if m.value == "" {
			missing = append(missing, m.name)
		}
	}
	if len(f.Resources) == 0 {
		missing = append(missing, "Resources")
	}
	for i, r := range f.Resources {
		if r.Id == "" || r.Type == "" {
			missing = append(missing, fmt.Sprintf("Resources[%d].Id and Type", i))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("finding %q lacks %s", f.Id, strings.Join(missing, ", "))
	}
	return nil
}

// MarshalASFF encodes findings as a JSON array exactly as BatchImportFindings
// takes them, ready for `aws securityhub batch-import-findings --findings
// file://findings.json`. A finding that lacks a required member is an
// error (Validate).
func MarshalASFF(findings []SecurityFinding) ([]byte, error) {
	var errs []error
	for _, f := range findings {
		if err := f.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("encode ASFF findings: %w", err)
	}
	if findings == nil {
		findings = []SecurityFinding{}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(findings); err != nil {
		return nil, fmt.Errorf("encode ASFF findings: %w", err)
	}
	return out.Bytes(), nil
}
