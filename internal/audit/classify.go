package audit

import (
	"time"

	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Status is the verdict on one secret.
type Status string

// The two statuses an audit row can carry.
const (
	StatusOK            Status = "ok"
	StatusNeedsRotation Status = "needs_rotation"
)

// Reason explains a Status; the README documents the values.
type Reason string

// The reasons a verdict can give.
const (
	// ReasonWithinMaxAge: the basis date is at most MaxAgeDays old (ok).
	ReasonWithinMaxAge Reason = "within_max_age"
	// ReasonOlderThanMaxAge: the basis date is more than MaxAgeDays old.
	ReasonOlderThanMaxAge Reason = "older_than_max_age"
	// ReasonNoBasisDate: the secret has neither LastRotatedDate nor
	// LastChangedDate, so its age is unknown and it is flagged.
	ReasonNoBasisDate Reason = "no_basis_date"
)

// Basis says which of the secret's dates its age was measured from.
type Basis string

// The dates a verdict can be based on.
const (
	BasisLastRotated Basis = "last_rotated"
	// BasisLastChanged means the secret was never rotated; LastChangedDate
	// also moves on metadata edits, so it can make a secret look younger.
	BasisLastChanged Basis = "last_changed"
	BasisNone        Basis = "none"
)

// day is the unit of MaxAgeDays: 24 hours, regardless of calendar or DST.
const day = 24 * time.Hour

// Verdict is the classification of one secret at one moment.
type Verdict struct {
	Status    Status
	Reason    Reason
	Basis     Basis
	BasisDate time.Time // zero when Basis is BasisNone
	// AgeDays is the basis date's age in whole days, never negative.
	AgeDays int
}

// Classify decides whether a secret needs rotation at now. Its age is
// measured from lastRotated, else from lastChanged; it needs rotation when
// that age is more than maxAgeDays days or unknown. A secret exactly
// maxAgeDays old is still ok. A basis date in the future (clock skew) counts
// as age zero.
func Classify(lastRotated, lastChanged *time.Time, now time.Time, maxAgeDays int) Verdict {
	var v Verdict
	switch {
	case lastRotated != nil:
		v.Basis, v.BasisDate = BasisLastRotated, *lastRotated
	case lastChanged != nil:
		v.Basis, v.BasisDate = BasisLastChanged, *lastChanged
	default:
		v.Basis, v.Status, v.Reason = BasisNone, StatusNeedsRotation, ReasonNoBasisDate
		return v
	}
	age := max(now.Sub(v.BasisDate), 0)
	v.AgeDays = int(age / day)
	if age > time.Duration(maxAgeDays)*day {
		v.Status, v.Reason = StatusNeedsRotation, ReasonOlderThanMaxAge
	} else {
		v.Status, v.Reason = StatusOK, ReasonWithinMaxAge
	}
	return v
}

// Selected reports whether tags hold a tag with exactly key and exactly value.
// ListSecrets' tag-key filter is only a prefix presence test (it also matches
// "ManagedBy", and any value), so every listed secret goes through this.
func Selected(tags []smtypes.Tag, key, value string) bool {
	for _, t := range tags {
		if t.Key != nil && t.Value != nil && *t.Key == key && *t.Value == value {
			return true
		}
	}
	return false
}
