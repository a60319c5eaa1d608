package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/hubimport"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Importer imports Security Hub findings in batches within the API's
// quota: hubimport.Importer.
type Importer interface {
	Import(ctx context.Context, fs []findings.SecurityFinding) (hubimport.Result, error)
}

var _ Importer = (*hubimport.Importer)(nil)

// Finding is the finding input of the row: the secret, its verdict, what
// changed (a gone secret's tombstone archives its finding) and when the
// audit first saw it (the finding's CreatedAt).
func (r Record) Finding() (findings.Secret, error) {
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

// toImport picks the rows whose findings a complete run imports: those
// that changed since the previous run (new, newly flagged, resolved,
// gone), and every row on the first complete run of a UTC day, so that a
// standing finding is updated daily and Security Hub's 90-day retention
// never drops it. A finding re-imported with the same UpdatedAt (a retried
// fire) is ignored by Security Hub.
//
// An organization unit compares itself with the same unit's rows of the
// previous complete organization run (readRows), so its changes are its
// own: a unit that did not report then finds every secret new, and
// imports them all.
func toImport(rows []Record, checkedAt time.Time, previousRunID string) []Record {
	refresh := true
	if prev, err := tables.ParseRunID(previousRunID); err == nil {
		refresh = prev.UTC().Truncate(24*time.Hour) != checkedAt.UTC().Truncate(24*time.Hour)
	}
	if refresh {
		return rows
	}
	var out []Record
	for _, r := range rows {
		if tables.Changed(r.Change) {
			out = append(out, r)
		}
	}
	return out
}

// importFindings imports the findings of a complete run's rows, a batch
// at a time so that only one batch of findings is in memory, and fills
// the counts in res. A row that cannot be a finding counts as failed. An
// import error stops the import and is returned for the log; the audit
// rows are already written and the run stays complete.
func (c *Checker) importFindings(ctx context.Context, rows []Record, res *Result) error {
	rows = toImport(rows, c.checkedAt(res), res.PreviousRunID)
	for start := 0; start < len(rows); start += hubimport.BatchSize {
		end := min(start+hubimport.BatchSize, len(rows))
		var batch []findings.SecurityFinding
		for _, r := range rows[start:end] {
			s, err := r.Finding()
			if err != nil {
				res.FindingsFailed++
				continue
			}
			s.HubAccountID, s.HubRegion = c.Config.HubAccountID, c.Config.HubRegion
			batch = append(batch, findings.ASFF(s))
		}
		out, err := c.Findings.Import(ctx, batch)
		res.FindingsImported += out.Imported
		res.FindingsFailed += out.Failed
		if err != nil {
			// The rest of this batch and every later row were not imported.
			res.FindingsFailed += len(batch) - out.Imported - out.Failed + len(rows) - end
			return fmt.Errorf("import findings into Security Hub: %w", err)
		}
	}
	return nil
}

// checkedAt is the run's time, from its result.
func (c *Checker) checkedAt(res *Result) time.Time {
	t, _ := time.Parse(time.RFC3339, res.CheckedAt)
	return t
}
