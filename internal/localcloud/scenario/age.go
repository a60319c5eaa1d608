package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// SecretEditor is the part of the Secrets Manager client scenario D uses.
type SecretEditor interface {
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
}

var _ SecretEditor = (*secretsmanager.Client)(nil)

// AMonthLater is how far scenario D moves the cloud clock: a day past the
// default MaxAgeDays.
const AMonthLater = 31 * 24 * time.Hour

// EditAfterAMonth does what scenario D does once the seeded secrets are a
// month old: it rotates the fresh secret and edits a tag on the stale one,
// an edit that moves LastChangedDate but not the value.
func EditAfterAMonth(ctx context.Context, sm SecretEditor, s Stack) error {
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(s.Fresh)}); err != nil {
		return fmt.Errorf("rotate %s: %w", s.Fresh, err)
	}
	if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{
		SecretId: aws.String(s.Stale), Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String("payments")}},
	}); err != nil {
		return fmt.Errorf("tag %s: %w", s.Stale, err)
	}
	return nil
}

// CheckValueAge expects, a month after the deploy, with the fresh secret
// just rotated and a tag just edited on the stale one: checked 2, flagged
// 1; the stale row judged by its current value's own date (basis
// current_version), 31 days old, despite the fresh LastChangedDate; the
// fresh row judged by its rotation, 0 days old (scenario D).
func CheckValueAge(s Stack, inv *Invocation, rows []audit.Record) []string {
	var bad []string
	if inv.Result.Checked != 2 || inv.Result.Flagged != 1 {
		bad = append(bad, fmt.Sprintf("checked %d, flagged %d, want checked 2, flagged 1", inv.Result.Checked, inv.Result.Flagged))
	}
	want := map[string]struct {
		status audit.Status
		basis  audit.Basis
		age    int
	}{
		s.Stale: {audit.StatusNeedsRotation, audit.BasisCurrentVersion, 31},
		s.Fresh: {audit.StatusOK, audit.BasisLastRotated, 0},
	}
	for _, r := range rows {
		w, ok := want[r.SecretName]
		if !ok {
			continue
		}
		delete(want, r.SecretName)
		age := -1
		if r.AgeDays != nil {
			age = *r.AgeDays
		}
		if r.Status != w.status || r.Basis != w.basis || age != w.age {
			bad = append(bad, fmt.Sprintf("%s is %s, basis %s, age %d, want %s, basis %s, age %d",
				r.SecretName, r.Status, r.Basis, age, w.status, w.basis, w.age))
		}
	}
	for name := range want {
		bad = append(bad, "no row for "+name)
	}
	return bad
}
