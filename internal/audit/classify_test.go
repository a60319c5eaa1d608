package audit

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
)

var judgeNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *time.Time { t := judgeNow.Add(-d); return &t }

var policy = Policy{MaxAgeDays: 30, UnusedDays: 90, Region: "us-east-1"}

// Every branch of the age rule, with the exact boundaries. The status
// follows the tutorial's rule on the exact elapsed time (flagged when
// basis < now - 30 days), while age_days is whole days rounded down: a
// value 30 days and 23 hours old is flagged with age 30.
func TestJudgeAgeRule(t *testing.T) {
	tests := []struct {
		name        string
		facts       Facts
		wantStatus  Status
		wantBasis   Basis
		wantAgeDays int
		wantLookup  bool
	}{
		{"rotated yesterday", Facts{LastRotated: ago(day), Created: ago(400 * day), LastChanged: ago(day)}, StatusOK, BasisLastRotated, 1, false},
		{"rotated 40 days ago, not changed since", Facts{LastRotated: ago(40 * day), LastChanged: ago(40 * day)}, StatusNeedsRotation, BasisLastRotated, 40, false},
		{"rotated 5 days ago, changed since: the value is younger still", Facts{LastRotated: ago(5 * day), LastChanged: ago(time.Hour)}, StatusOK, BasisLastRotated, 5, false},
		{"rotated exactly 30 days ago", Facts{LastRotated: ago(30 * day)}, StatusOK, BasisLastRotated, 30, false},
		{"rotated 30 days and a second ago", Facts{LastRotated: ago(30*day + time.Second)}, StatusNeedsRotation, BasisLastRotated, 30, false},
		{"rotated 30 days and 23 hours ago", Facts{LastRotated: ago(31*day - time.Hour)}, StatusNeedsRotation, BasisLastRotated, 30, false},
		{"rotated 31 days ago", Facts{LastRotated: ago(31 * day)}, StatusNeedsRotation, BasisLastRotated, 31, false},
		{"rotated in the future (clock skew)", Facts{LastRotated: ago(-3 * day)}, StatusOK, BasisLastRotated, 0, false},
		{"rotated 60 days ago, changed 40 days ago: the value cannot be younger than the change", Facts{LastRotated: ago(60 * day), LastChanged: ago(40 * day)}, StatusNeedsRotation, BasisLastChanged, 40, false},

		{"created 2 days ago: the value cannot be older", Facts{Created: ago(2 * day), LastChanged: ago(time.Hour)}, StatusOK, BasisCreated, 2, false},
		{"created exactly 30 days ago", Facts{Created: ago(30 * day), LastChanged: ago(30 * day)}, StatusOK, BasisCreated, 30, false},
		{"created and last changed 30 days and 23 hours ago", Facts{Created: ago(31*day - time.Hour), LastChanged: ago(31*day - time.Hour)}, StatusNeedsRotation, BasisLastChanged, 30, false},

		{"created and last changed 31 days ago: the value cannot be younger", Facts{Created: ago(31 * day), LastChanged: ago(31 * day)}, StatusNeedsRotation, BasisLastChanged, 31, false},
		{"old, unchanged for 200 days", Facts{Created: ago(400 * day), LastChanged: ago(200 * day)}, StatusNeedsRotation, BasisLastChanged, 200, false},

		{"old, changed recently (a tag edit?): look the value up", Facts{Created: ago(200 * day), LastChanged: ago(time.Hour)}, "", "", 0, true},
		{"old, changed exactly 30 days ago: look it up", Facts{Created: ago(200 * day), LastChanged: ago(30 * day)}, "", "", 0, true},
		{"rotated 60 days ago, a value put 5 days ago (or a tag edit): look it up", Facts{Created: ago(200 * day), LastRotated: ago(60 * day), LastChanged: ago(5 * day)}, "", "", 0, true},
		{"no creation date, changed recently: look it up", Facts{LastChanged: ago(day)}, "", "", 0, true},
		{"no dates at all: look it up", Facts{}, "", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			v := Judge(tt.facts, judgeNow, policy)
			is.Equal(v.NeedsVersion, tt.wantLookup)
			if tt.wantLookup {
				return
			}
			is.True(v.Judged)
			is.Equal(v.Status, tt.wantStatus)
			is.Equal(v.Basis, tt.wantBasis)
			is.Equal(v.AgeDays, tt.wantAgeDays)
			is.Equal(v.Status == StatusNeedsRotation, judgeNow.Sub(v.BasisDate) > 30*day) // the status follows the exact elapsed time
			wantReason := ReasonWithinMaxAge
			if tt.wantStatus == StatusNeedsRotation {
				wantReason = ReasonOlderThanMaxAge
			}
			is.Equal(v.Reason, wantReason)
		})
	}
}

func TestWithCurrentVersion(t *testing.T) {
	is := is.New(t)
	v := Judge(Facts{Created: ago(200 * day), LastChanged: ago(time.Hour)}, judgeNow, policy)
	is.True(v.NeedsVersion)
	old := v.WithCurrentVersion(*ago(31 * day), judgeNow, 30)
	is.Equal(old.Status, StatusNeedsRotation) // a tag edit no longer hides a 31-day-old value
	is.Equal(old.Basis, BasisCurrentVersion)
	is.Equal(old.AgeDays, 31)
	is.Equal(old.BasisDate, *ago(31 * day))
	is.True(!old.NeedsVersion)
	almost31 := v.WithCurrentVersion(*ago(31*day - time.Hour), judgeNow, 30)
	is.Equal(almost31.Status, StatusNeedsRotation) // over 30 days by the clock...
	is.Equal(almost31.AgeDays, 30)                 // ...though 30 in whole days
	fresh := v.WithCurrentVersion(*ago(time.Hour), judgeNow, 30)
	is.Equal(fresh.Status, StatusOK) // a new value is new
	is.Equal(fresh.AgeDays, 0)
}

// Secrets a service owns and replicas are recorded as such and ok, with
// their dates, but no age of their own; a replica in the function's own
// region is judged like any secret.
func TestJudgeOwnedAndReplicas(t *testing.T) {
	is := is.New(t)
	owned := Judge(Facts{OwningService: "rds", LastRotated: ago(400 * day), Created: ago(500 * day)}, judgeNow, policy)
	is.Equal(owned.Status, StatusOK)
	is.Equal(owned.Reason, ReasonOwnedByService)
	is.Equal(owned.Basis, BasisLastRotated) // its last rotation is recorded for reading...
	is.True(!owned.Judged)                  // ...but it has no age to compare
	is.True(!owned.NeedsVersion)            // and no lookup is made

	replica := Judge(Facts{PrimaryRegion: "eu-west-1", Created: ago(500 * day), LastChanged: ago(time.Hour)}, judgeNow, policy)
	is.Equal(replica.Reason, ReasonReplica)
	is.Equal(replica.Basis, BasisCreated)
	is.True(!replica.NeedsVersion)

	primaryHere := Judge(Facts{PrimaryRegion: "us-east-1", LastRotated: ago(40 * day)}, judgeNow, policy)
	is.Equal(primaryHere.Status, StatusNeedsRotation) // the primary itself is judged
}

func TestJudgeRotationOverdue(t *testing.T) {
	tests := []struct {
		name  string
		facts Facts
		want  bool
	}{
		{"rotation off", Facts{LastRotated: ago(100 * day), RotationIntervalDays: 30}, false},
		{"rotated on time", Facts{RotationEnabled: true, RotationIntervalDays: 30, LastRotated: ago(30 * day)}, false},
		{"within the extra day", Facts{RotationEnabled: true, RotationIntervalDays: 30, LastRotated: ago(31*day - time.Minute)}, false},
		{"a day and a minute late", Facts{RotationEnabled: true, RotationIntervalDays: 30, LastRotated: ago(31*day + time.Minute)}, true},
		{"never rotated, created long ago", Facts{RotationEnabled: true, RotationIntervalDays: 7, Created: ago(10 * day)}, true},
		{"next rotation date passed by two days", Facts{RotationEnabled: true, NextRotation: ago(2 * day)}, true},
		{"next rotation date passed by an hour", Facts{RotationEnabled: true, NextRotation: ago(time.Hour)}, false},
		{"cron rotation, no interval, on time", Facts{RotationEnabled: true, LastRotated: ago(100 * day), NextRotation: ago(-day)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(Judge(tt.facts, judgeNow, policy).RotationOverdue, tt.want)
		})
	}
}

func TestJudgeUnused(t *testing.T) {
	tests := []struct {
		name  string
		facts Facts
		want  bool
	}{
		{"read yesterday", Facts{LastAccessed: ago(day), Created: ago(400 * day)}, false},
		{"read 90 days ago", Facts{LastAccessed: ago(90 * day)}, false},
		{"read 91 days ago", Facts{LastAccessed: ago(91 * day)}, true},
		{"never read, created 91 days ago", Facts{Created: ago(91 * day)}, true},
		{"never read, created yesterday", Facts{Created: ago(day)}, false},
		{"no dates", Facts{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(Judge(tt.facts, judgeNow, policy).Unused, tt.want)
		})
	}
}

func TestFactsOf(t *testing.T) {
	is := is.New(t)
	entry := smtypes.SecretListEntry{
		CreatedDate: ago(10 * day), RotationEnabled: aws.Bool(true), OwningService: aws.String("rds"),
		RotationRules: &smtypes.RotationRulesType{ScheduleExpression: aws.String("rate(10 days)")},
	}
	f := FactsOf(entry)
	is.Equal(f.RotationIntervalDays, 10) // from a rate() schedule
	is.True(f.RotationEnabled)
	is.Equal(f.OwningService, "rds")
	entry.RotationRules = &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}
	is.Equal(FactsOf(entry).RotationIntervalDays, 30)
	entry.RotationRules = &smtypes.RotationRulesType{ScheduleExpression: aws.String("rate(36 hours)")}
	is.Equal(FactsOf(entry).RotationIntervalDays, 2) // hours round up to days
	entry.RotationRules = &smtypes.RotationRulesType{ScheduleExpression: aws.String("cron(0 16 1,15 * ? *)")}
	is.Equal(FactsOf(entry).RotationIntervalDays, 0) // no fixed interval
}

func TestSelected(t *testing.T) {
	tag := func(k, v string) smtypes.Tag { return smtypes.Tag{Key: aws.String(k), Value: aws.String(v)} }
	tests := []struct {
		name string
		tags []smtypes.Tag
		want bool
	}{
		{"exact match", []smtypes.Tag{tag("Managed", "true")}, true},
		{"among other tags", []smtypes.Tag{tag("team", "payments"), tag("Managed", "true")}, true},
		{"value false", []smtypes.Tag{tag("Managed", "false")}, false},
		{"value case differs", []smtypes.Tag{tag("Managed", "TRUE")}, false},
		{"key case differs", []smtypes.Tag{tag("managed", "true")}, false},
		{"key is a prefix match only", []smtypes.Tag{tag("ManagedBy", "x")}, false},
		{"prefix key with value true", []smtypes.Tag{tag("ManagedBy", "true")}, false},
		{"value with spaces", []smtypes.Tag{tag("Managed", " true")}, false},
		{"empty value", []smtypes.Tag{tag("Managed", "")}, false},
		{"nil value", []smtypes.Tag{{Key: aws.String("Managed")}}, false},
		{"nil key", []smtypes.Tag{{Value: aws.String("true")}}, false},
		{"no tags", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(Selected(tt.tags, "Managed", "true"), tt.want)
		})
	}
}
