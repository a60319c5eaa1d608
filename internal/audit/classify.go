package audit

import (
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Status is the verdict on one secret: exactly the two values the tutorial
// defines.
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
	// ReasonWithinMaxAge: the current value is at most MaxAgeDays old (ok).
	ReasonWithinMaxAge Reason = "within_max_age"
	// ReasonOlderThanMaxAge: the current value is more than MaxAgeDays old.
	ReasonOlderThanMaxAge Reason = "older_than_max_age"
	// ReasonOwnedByService: a service (OwningService, e.g. RDS) owns the
	// secret and rotates it; it is recorded, with its rotation facts, but
	// not judged like the others (ok).
	ReasonOwnedByService Reason = "owned_by_service"
	// ReasonReplica: the secret is a replica of one in another region
	// (PrimaryRegion); its value is the primary's, rotated and audited
	// there (ok).
	ReasonReplica Reason = "replica_of_primary"
)

// Basis says which date the age of a secret's current value was measured
// from.
type Basis string

// The dates a verdict can be based on, from the truest to the boundary ones.
const (
	// BasisLastRotated: the last rotation made the current value.
	BasisLastRotated Basis = "last_rotated"
	// BasisCurrentVersion: the AWSCURRENT version's CreatedDate, looked up
	// with ListSecretVersionIds.
	BasisCurrentVersion Basis = "current_version"
	// BasisCreated: the secret is young enough that its value, which cannot
	// be older than the secret, is within MaxAgeDays; the age given is the
	// secret's, an upper bound of the value's.
	BasisCreated Basis = "created"
	// BasisLastChanged: the secret has not changed in more than MaxAgeDays,
	// so its value, which cannot be younger than that change, is too old;
	// the age given is a lower bound of the value's.
	BasisLastChanged Basis = "last_changed"
	// BasisNone: the secret was not judged (owned by a service, a replica).
	BasisNone Basis = "none"
)

// day is the unit of MaxAgeDays: 24 hours, regardless of calendar or DST.
const day = 24 * time.Hour

// Facts are what a verdict on one secret depends on, all from ListSecrets.
type Facts struct {
	Created, LastChanged, LastRotated, LastAccessed, NextRotation *time.Time
	RotationEnabled                                               bool
	// RotationIntervalDays is the rotation schedule's interval in days,
	// zero when there is none or it is a cron() schedule.
	RotationIntervalDays int
	OwningService        string
	PrimaryRegion        string
}

// FactsOf reads the facts of one listed secret.
func FactsOf(s smtypes.SecretListEntry) Facts {
	f := Facts{
		Created: s.CreatedDate, LastChanged: s.LastChangedDate, LastRotated: s.LastRotatedDate,
		LastAccessed: s.LastAccessedDate, NextRotation: s.NextRotationDate,
		RotationEnabled: aws.ToBool(s.RotationEnabled),
		OwningService:   aws.ToString(s.OwningService),
		PrimaryRegion:   aws.ToString(s.PrimaryRegion),
	}
	if r := s.RotationRules; r != nil {
		f.RotationIntervalDays = int(aws.ToInt64(r.AutomaticallyAfterDays))
		if f.RotationIntervalDays == 0 {
			f.RotationIntervalDays = rateDays(aws.ToString(r.ScheduleExpression))
		}
	}
	return f
}

// rotationRate matches the rate() form of a rotation schedule.
var rotationRate = regexp.MustCompile(`^rate\((\d+) (days?|hours?)\)$`)

// rateDays is a rate() rotation schedule's interval in whole days, rounded
// up; zero for anything else (cron() schedules have no fixed interval).
func rateDays(expr string) int {
	m := rotationRate.FindStringSubmatch(expr)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	if m[2][0] == 'h' {
		return (n + 23) / 24
	}
	return n
}

// Policy is what a verdict is judged against.
type Policy struct {
	MaxAgeDays int
	UnusedDays int
	// Region is the function's own region: a secret whose PrimaryRegion is
	// another is a replica.
	Region string
}

// Verdict is the judgement of one secret at one moment.
type Verdict struct {
	Status    Status
	Reason    Reason
	Basis     Basis
	BasisDate time.Time // zero when Basis is BasisNone
	// AgeDays is the current value's age in whole days, rounded down. The
	// status follows the exact elapsed time, not AgeDays: a value 30 days
	// and 23 hours old is more than 30 days old, so a flagged row may show
	// AgeDays equal to MaxAgeDays. Judged is false for secrets not judged
	// (owned, replicas), which have no age of their own.
	AgeDays int
	Judged  bool
	// NeedsVersion says the age depends on the current value's own date:
	// complete the verdict with WithCurrentVersion.
	NeedsVersion bool
	// RotationOverdue: rotation is enabled but the last one is older than
	// its interval plus a day (the "rotation is failing" control).
	RotationOverdue bool
	// Unused: not accessed for more than UnusedDays (the "remove unused
	// secrets" control); a secret never accessed counts from its creation.
	Unused bool
}

// AgeDays is how many whole days have passed from since to now, never
// negative: a date in the future (clock skew) is age zero.
func AgeDays(since, now time.Time) int {
	return int(max(now.Sub(since), 0) / day)
}

// tooOld reports whether a value dated since is more than maxAgeDays old
// at now: the tutorial's rule, since < now - maxAgeDays days, on the exact
// elapsed time. A value 30 days and 23 hours old is too old for a limit of
// 30, although its age in whole days (AgeDays) is 30.
func tooOld(since, now time.Time, maxAgeDays int) bool {
	return now.Sub(since) > time.Duration(maxAgeDays)*day
}

// Judge decides, without any call where it can, whether a secret's
// current value is more than MaxAgeDays old (tooOld), measuring the age of
// the value rather than of the metadata (LastChangedDate also moves on tag
// and description edits, and on a value put by hand):
//
//   - rotated, and either within MaxAgeDays or not changed since: the last
//     rotation made the value (basis last_rotated);
//   - created at most MaxAgeDays ago: the value cannot be older, so ok
//     (basis created);
//   - last changed more than MaxAgeDays ago: the value cannot be younger,
//     so needs_rotation (basis last_changed);
//   - otherwise the value's own date decides: NeedsVersion asks for a
//     ListSecretVersionIds lookup. That is an old secret changed recently,
//     never rotated, or rotated more than MaxAgeDays ago and changed since
//     (a value put by hand after the rotation, or only a tag edit).
//
// Secrets a service owns, and replicas of a primary in another region, are
// recorded as such and ok, not judged.
func Judge(f Facts, now time.Time, p Policy) Verdict {
	v := Verdict{RotationOverdue: rotationOverdue(f, now), Unused: unused(f, now, p.UnusedDays)}
	switch {
	case f.OwningService != "":
		v.Status, v.Reason = StatusOK, ReasonOwnedByService
		v.Basis, v.BasisDate = infoBasis(f)
	case f.PrimaryRegion != "" && p.Region != "" && f.PrimaryRegion != p.Region:
		v.Status, v.Reason = StatusOK, ReasonReplica
		v.Basis, v.BasisDate = infoBasis(f)
	case f.LastRotated != nil && (!tooOld(*f.LastRotated, now, p.MaxAgeDays) || !changedSince(f.LastChanged, *f.LastRotated)):
		v.judge(BasisLastRotated, *f.LastRotated, now, p.MaxAgeDays)
	case f.Created != nil && !tooOld(*f.Created, now, p.MaxAgeDays):
		v.judge(BasisCreated, *f.Created, now, p.MaxAgeDays)
	case f.LastChanged != nil && tooOld(*f.LastChanged, now, p.MaxAgeDays):
		v.judge(BasisLastChanged, *f.LastChanged, now, p.MaxAgeDays)
	default:
		v.NeedsVersion = true
	}
	return v
}

// changedSince reports a change after t: LastChangedDate later than the
// last rotation means a value put by hand, or only a tag edit.
func changedSince(lastChanged *time.Time, t time.Time) bool {
	return lastChanged != nil && lastChanged.After(t)
}

// WithCurrentVersion completes a verdict that needed the current value's
// date: the AWSCURRENT version's CreatedDate.
func (v Verdict) WithCurrentVersion(created, now time.Time, maxAgeDays int) Verdict {
	v.NeedsVersion = false
	v.judge(BasisCurrentVersion, created, now, maxAgeDays)
	return v
}

// judge sets the status from the age of basis.
func (v *Verdict) judge(basis Basis, date, now time.Time, maxAgeDays int) {
	v.Basis, v.BasisDate, v.Judged = basis, date, true
	v.AgeDays = AgeDays(date, now)
	if tooOld(date, now, maxAgeDays) {
		v.Status, v.Reason = StatusNeedsRotation, ReasonOlderThanMaxAge
	} else {
		v.Status, v.Reason = StatusOK, ReasonWithinMaxAge
	}
}

// infoBasis is the date recorded for a secret that is not judged.
func infoBasis(f Facts) (Basis, time.Time) {
	switch {
	case f.LastRotated != nil:
		return BasisLastRotated, *f.LastRotated
	case f.Created != nil:
		return BasisCreated, *f.Created
	}
	return BasisNone, time.Time{}
}

// rotationOverdue reports rotation enabled but not done in time: the last
// rotation (else the creation) is older than the interval plus a day, or
// NextRotationDate passed more than a day ago.
func rotationOverdue(f Facts, now time.Time) bool {
	if !f.RotationEnabled {
		return false
	}
	last := f.LastRotated
	if last == nil {
		last = f.Created
	}
	if f.RotationIntervalDays > 0 && last != nil && now.Sub(*last) > time.Duration(f.RotationIntervalDays+1)*day {
		return true
	}
	return f.NextRotation != nil && now.Sub(*f.NextRotation) > day
}

// unused reports a secret not accessed for more than unusedDays; one never
// accessed counts from its creation.
func unused(f Facts, now time.Time, unusedDays int) bool {
	switch {
	case unusedDays <= 0:
		return false
	case f.LastAccessed != nil:
		return AgeDays(*f.LastAccessed, now) > unusedDays
	case f.Created != nil:
		return AgeDays(*f.Created, now) > unusedDays
	}
	return false
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
