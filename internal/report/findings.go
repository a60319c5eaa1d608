package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/findings"
)

// FindingOf is the finding input of an audit row (audit.Record.Finding).
func FindingOf(r audit.Record) (findings.Secret, error) { return r.Finding() }

// writeFindings writes one finding per row: OCSF as JSON lines, ASFF as one
// JSON array. Every finding is built before the first byte is written, so
// a row that cannot be one leaves nothing half-written.
func writeFindings(w io.Writer, rows []audit.Record, f Format) error {
	var out bytes.Buffer
	var asff []findings.SecurityFinding
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
		data, err := findings.MarshalASFF(asff)
		if err != nil {
			return err
		}
		out.Write(data)
	}
	_, err := w.Write(out.Bytes())
	return err
}
