package audit

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	tests := []struct {
		name        string
		rotated     *time.Time
		changed     *time.Time
		maxAgeDays  int
		wantStatus  Status
		wantReason  Reason
		wantBasis   Basis
		wantAgeDays int
	}{
		{"rotated yesterday", ago(day), ago(100 * day), 30, StatusOK, ReasonWithinMaxAge, BasisLastRotated, 1},
		{"rotation wins over a recent change", ago(40 * day), ago(time.Hour), 30, StatusNeedsRotation, ReasonOlderThanMaxAge, BasisLastRotated, 40},
		{"never rotated, changed recently", nil, ago(2 * day), 30, StatusOK, ReasonWithinMaxAge, BasisLastChanged, 2},
		{"never rotated, changed long ago", nil, ago(31 * day), 30, StatusNeedsRotation, ReasonOlderThanMaxAge, BasisLastChanged, 31},
		{"exactly max age is still ok", ago(30 * day), nil, 30, StatusOK, ReasonWithinMaxAge, BasisLastRotated, 30},
		{"one second past max age", ago(30*day + time.Second), nil, 30, StatusNeedsRotation, ReasonOlderThanMaxAge, BasisLastRotated, 30},
		{"one second before max age", ago(30*day - time.Second), nil, 30, StatusOK, ReasonWithinMaxAge, BasisLastRotated, 29},
		{"no dates at all", nil, nil, 30, StatusNeedsRotation, ReasonNoBasisDate, BasisNone, 0},
		{"rotated in the future (clock skew)", ago(-3 * day), nil, 30, StatusOK, ReasonWithinMaxAge, BasisLastRotated, 0},
		{"changed in the future", nil, ago(-time.Minute), 1, StatusOK, ReasonWithinMaxAge, BasisLastChanged, 0},
		{"max age 1 day", ago(25 * time.Hour), nil, 1, StatusNeedsRotation, ReasonOlderThanMaxAge, BasisLastRotated, 1},
		{"just now", ago(0), nil, 1, StatusOK, ReasonWithinMaxAge, BasisLastRotated, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			v := Classify(tt.rotated, tt.changed, now, tt.maxAgeDays)
			is.Equal(v.Status, tt.wantStatus)
			is.Equal(v.Reason, tt.wantReason)
			is.Equal(v.Basis, tt.wantBasis)
			is.Equal(v.AgeDays, tt.wantAgeDays)
			is.True(v.AgeDays >= 0) // age is never negative
			switch tt.wantBasis {
			case BasisLastRotated:
				is.Equal(v.BasisDate, *tt.rotated)
			case BasisLastChanged:
				is.Equal(v.BasisDate, *tt.changed)
			default:
				is.True(v.BasisDate.IsZero())
			}
		})
	}
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
