package report

// The cells every format is made of: CSV quoted and neutralised, Markdown
// escaped, table cells on one line, and the small value formats they share.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// writeCSV writes rows as CSV, each record on one line, every cell made
// safe for a spreadsheet by csvCell.
func writeCSV(w io.Writer, rows [][]string) error {
	cw := csv.NewWriter(w)
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = csvCell(c)
		}
		if err := cw.Write(cells); err != nil {
			return fmt.Errorf("write CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

// csvCell is a value as a CSV cell: on one line (cell), and, when it
// begins with a character a spreadsheet starts a formula with (=, +, -,
// @, a tab or a carriage return), prefixed with a single quote, as OWASP
// recommends against CSV injection, so "=1+2" is shown as text, not
// computed. The report's own cells (statuses, numbers, dates, ARNs) never
// begin with one, so only values from outside (names, errors) change.
func csvCell(s string) string {
	s = cell(s) // first: a value's second line must not become a formula either
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return s
}

// cell is a value as text on one line, for every renderer but JSON: its
// lines (errors.Join puts each error on its own) joined with "; ", a tab
// as a space, and other control characters written as escapes such as
// \x1b, so one record stays one row and a terminal shows the value as it
// is.
func cell(s string) string {
	clean := func(s string) bool {
		for _, r := range s {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				return false
			}
		}
		return true
	}
	if clean(s) {
		return s
	}
	isBreak := func(r rune) bool { return r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029' }
	var lines []string
	for _, line := range strings.FieldsFunc(s, isBreak) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	s = strings.Join(lines, "; ")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// tableRow is a table line's cells, each on one line (cell), between tabs.
func tableRow(cells ...string) string {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	return strings.Join(cells, "\t")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeMarkdown writes a table whose first row is the header, each cell
// on one line and shown as text (mdText).
func writeMarkdown(w io.Writer, rows [][]string) error {
	for i, row := range rows {
		cells := make([]string, len(row))
		for j, c := range row {
			cells[j] = mdText(c)
		}
		if _, err := fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")); err != nil {
			return err
		}
		if i == 0 {
			fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(row)))
		}
	}
	return nil
}

// mdEscaper escapes the characters Markdown would read as markup in a
// table cell: the pipe that ends a cell, HTML (so "<script>" is text),
// entities, links, emphasis, strikethrough and code. The backslash comes
// first, so a value ending in one cannot escape the pipe after it.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "<", `\<`, ">", `\>`, "&", `\&`, "[", `\[`, "]", `\]`,
	"*", `\*`, "~", `\~`, "`", "\\`",
)

// mdText is a value as Markdown text on one line.
func mdText(s string) string { return mdEscaper.Replace(cell(s)) }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func ageCell(r audit.Record) string {
	if r.AgeDays == nil {
		return ""
	}
	return strconv.Itoa(*r.AgeDays)
}

func days(r audit.Record) string {
	if r.AgeDays == nil {
		return "-"
	}
	return strconv.Itoa(*r.AgeDays) + "d"
}

func intCell(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// day is the date part of an RFC 3339 time.
func day(rfc3339 string) string {
	if len(rfc3339) >= 10 {
		return rfc3339[:10]
	}
	return rfc3339
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func percent(n, of int) string {
	if of == 0 {
		return "none expected"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// stamp is an instant in RFC 3339, or "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
