package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/findings"
)

// FindingOf is what a finding says about an audit row: the secret's
// verdict, and its account and region, read from its ARN.
//
// Rows do not carry first_seen yet, so FirstSeen stays zero and the
// finding is created at the row's own checked_at (findings.Secret.Created);
// once rows carry first_seen (and change), set FirstSeen and Change here.
func FindingOf(r audit.Record) (findings.Secret, error) {
	s, err := findings.SecretOf(r.SecretName, r.SecretARN)
	if err != nil {
		return s, err
	}
	checked, err := time.Parse(time.RFC3339, r.CheckedAt)
	if err != nil {
		return s, fmt.Errorf("secret %s: checked_at %q is not an RFC 3339 time", r.SecretName, r.CheckedAt)
	}
	s.Flagged = r.Flagged()
	s.Reason, s.Basis = string(r.Reason), string(r.Basis)
	s.OwningService, s.PrimaryRegion = r.OwningService, r.PrimaryRegion
	s.AgeDays, s.MaxAgeDays = r.AgeDays, r.MaxAgeDays
	s.RotationEnabled, s.RotationOverdue = r.RotationEnabled, r.RotationOverdue
	s.CheckedAt = checked
	s.Change = r.Change
	if r.FirstSeen != "" {
		first, err := time.Parse(time.RFC3339, r.FirstSeen)
		if err != nil {
			return s, fmt.Errorf("secret %s: first_seen %q is not an RFC 3339 time", r.SecretName, r.FirstSeen)
		}
		s.FirstSeen = first
	}
	return s, nil
}

// writeFindings writes one finding per row: OCSF as JSON lines, ASFF as one
// JSON array. Every finding is built before the first byte is written, so
// a row that cannot be one leaves nothing half-written.
func writeFindings(w io.Writer, rows []audit.Record, f Format) error {
	var out bytes.Buffer
	var asff []types.AwsSecurityFinding
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	for _, row := range rows {
		s, err := FindingOf(row)
		if err != nil {
			return fmt.Errorf("%s finding: %w", f, err)
		}
		if f == ASFF {
			asff = append(asff, findings.ASFF(s))
			continue
		}
		if err := enc.Encode(findings.OCSF(s)); err != nil {
			return fmt.Errorf("ocsf finding: %w", err)
		}
	}
	if f == ASFF {
		data, err := findings.MarshalASFF(context.Background(), asff)
		if err != nil {
			return err
		}
		out.Write(data)
	}
	_, err := w.Write(out.Bytes())
	return err
}
