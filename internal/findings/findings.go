// Package findings turns the audit's verdict on one secret into a finding
// where security teams already look: an AWS Security Finding Format (ASFF)
// finding, exactly what Security Hub's BatchImportFindings takes, and an
// OCSF 1.6.0 Compliance Finding, what a security lake reads. One secret is
// one finding for its whole life: its ID derives from the secret's ARN,
// never from a run.
//
// It is pure: findings are built from a Secret and nothing else; it makes
// no calls. It imports the tables contract, never the audit package, so
// both the write side (the run) and the read side (the report) build the
// same finding from their own rows; and never the SDK's Security Hub
// package, which the function cannot afford to link (see SecurityFinding).
package findings

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Secret is what a finding says about one secret at one run: the fields of
// its audit row a finding needs, where the secret lives, and when it was
// first seen.
type Secret struct {
	Name string
	ARN  string
	// Partition, AccountID and Region are where the secret lives; SecretOf
	// reads them from its ARN.
	Partition string
	AccountID string
	Region    string
	// HubAccountID and HubRegion, when set, are the account and region
	// whose Security Hub imports the finding, other than the secret's own:
	// organization mode's hub. With the default product ARN Security Hub
	// takes a finding only from the account its AwsAccountId names, so a
	// member's secret becomes a finding of the hub account, naming the
	// member account through its resource. Empty: the secret's account
	// and region import it (single-account mode).
	HubAccountID string
	HubRegion    string
	// Flagged is the row's status: needs_rotation (true) or ok.
	Flagged bool
	// Reason, Basis, OwningService and PrimaryRegion are the row's, for the
	// description.
	Reason        string
	Basis         string
	OwningService string
	PrimaryRegion string
	// AgeDays is the current value's age, nil for a secret not judged.
	AgeDays         *int
	MaxAgeDays      int
	RotationEnabled bool
	RotationOverdue bool
	// Change is the row's change since the previous complete run (the
	// tables.Change values): ChangeGone archives the finding, ChangeNew
	// creates it. Empty for rows written before rows carried it.
	Change string
	// CheckedAt is the run's checked_at: the finding's UpdatedAt, which
	// Security Hub requires to grow for an update to count.
	CheckedAt time.Time
	// FirstSeen is when the audit first saw the secret: the finding's
	// CreatedAt. Audit rows do not carry it yet (the write side is adding
	// first_seen); until they do, the zero value stands for CheckedAt, so
	// CreatedAt is the run's own time (see Created).
	FirstSeen time.Time
}

// Created is the finding's creation time: FirstSeen, or CheckedAt for a row
// that does not say when the secret was first seen.
func (s Secret) Created() time.Time {
	if s.FirstSeen.IsZero() || s.FirstSeen.After(s.CheckedAt) {
		return s.CheckedAt
	}
	return s.FirstSeen
}

// Gone reports whether the secret has left the audit since the previous
// run: deleted, or no longer tagged for it.
func (s Secret) Gone() bool { return s.Change == tables.ChangeGone }

// SecretOf is a Secret named by its ARN, with the partition, account and
// region the ARN holds; the caller fills in the verdict. An ARN that is
// not a Secrets Manager secret's is an error.
func SecretOf(name, secretARN string) (Secret, error) {
	a, err := arn.Parse(secretARN)
	if err != nil {
		return Secret{}, fmt.Errorf("secret %s: ARN %q: %w", name, secretARN, err)
	}
	if a.Service != "secretsmanager" || a.AccountID == "" || a.Region == "" {
		return Secret{}, fmt.Errorf("secret %s: %q is not a Secrets Manager secret's ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)", name, secretARN)
	}
	return Secret{Name: name, ARN: secretARN, Partition: a.Partition, AccountID: a.AccountID, Region: a.Region}, nil
}

// idPrefix starts every finding's ID; the secret's ARN follows.
const idPrefix = "secret-rotation-age/"

// maxIDLength is the longest ASFF Id Security Hub takes.
const maxIDLength = 512

// ID is the one finding ID of a secret for its whole life:
// "secret-rotation-age/" and its ARN. An ARN too long for an ASFF Id (a
// secret name near its 512-character limit) is replaced by its SHA-256,
// which is just as stable.
func ID(secretARN string) string {
	id := idPrefix + secretARN
	if len(id) <= maxIDLength {
		return id
	}
	sum := sha256.Sum256([]byte(secretARN))
	return idPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// ProductARN is an account's own default product in a region, the product
// its custom findings are imported under.
func ProductARN(partition, region, account string) string {
	return fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", cmp.Or(partition, "aws"), region, account, account)
}

// GeneratorID names the check that produces every finding.
const GeneratorID = "rotation-audit/secret-max-age"

// FindingType is the ASFF finding type of every finding (the taxonomy's
// namespace/category), as AWS's own Secrets Manager controls use.
const FindingType = "Software and Configuration Checks/AWS Security Best Practices"

// ResourceType is the ASFF resource type of a Secrets Manager secret.
const ResourceType = "AwsSecretsManagerSecret"

// Title is the finding's title: the control, the same for every secret of
// a threshold, as AWS titles its controls' findings (the resource is
// named beside it).
func (s Secret) Title() string {
	return "Secrets Manager secrets should be rotated within " + strconv.Itoa(s.MaxAgeDays) + " days"
}

// maxDescription is the longest ASFF Description Security Hub takes.
const maxDescription = 1024

// Description says what the audit found about the secret, in one sentence.
func (s Secret) Description() string {
	age := "an unknown age"
	if s.AgeDays != nil {
		age = strconv.Itoa(*s.AgeDays) + " days old"
	}
	var d string
	switch {
	case s.Gone():
		d = fmt.Sprintf("Secret %s is no longer audited: it was deleted or is no longer tagged for the audit, so this finding is archived.", s.Name)
	case s.Reason == "owned_by_service":
		d = fmt.Sprintf("Secret %s is rotated by the service that owns it (%s); the audit does not judge its age.", s.Name, s.OwningService)
	case s.Reason == "replica_of_primary":
		d = fmt.Sprintf("Secret %s is a replica of a secret in %s, where it is judged.", s.Name, s.PrimaryRegion)
	case s.Flagged:
		d = fmt.Sprintf("The current value of secret %s is %s, more than the %d days allowed (measured from %s): rotate it.", s.Name, age, s.MaxAgeDays, s.Basis)
	default:
		d = fmt.Sprintf("The current value of secret %s is %s, within the %d days allowed (measured from %s).", s.Name, age, s.MaxAgeDays, s.Basis)
	}
	return truncate(d, maxDescription)
}

// truncate cuts s to at most n bytes on a character boundary, ending in an
// ellipsis when it cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
