package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// hostileNames are names a renderer must show as text, each on its own
// row: markup, quotes, formulas, unicode, slashes, line breaks, control
// characters, and the longest name Secrets Manager allows.
var hostileNames = []string{
	"<script>alert(1)</script>",
	`"quoted" 'single'`,
	"=1+2",
	"@x",
	"+x",
	"-x",
	`=HYPERLINK("http://evil.example","click")`,
	"pässwörd/日本語/🔑",
	"/prod/db/password",
	"x/../y",
	`a|b\`,
	"[link](javascript:alert(1)) *bold* `code` ~~gone~~ &amp;",
	"line1\nline2",
	"first\n=1+2",
	"\n@home",
	"tab\there",
	"\x1b[31mred",
	strings.Repeat("n", 512),
}

// hostileRun is a failed run whose error errors.Join made: three lines,
// the second one a formula.
var hostileRun = audit.RunEntry{RunID: "run-1798370282000", CheckedAt: "2026-12-27T11:18:02Z", Checked: 17, Flagged: 17,
	MaxAgeDays: 30, Error: "list secrets: throttled\n=cmd|' /C calc'!A0\nwrite rows: context deadline exceeded"}

// hostileReport is a report of the hostile names, all flagged, in an
// incomplete run.
func hostileReport() Report {
	var rows []audit.Record
	for i, name := range hostileNames {
		rows = append(rows, audit.Record{SecretName: name, Status: audit.StatusNeedsRotation, Reason: audit.ReasonOlderThanMaxAge,
			AgeDays: intp(31 + i), Basis: audit.BasisLastChanged, BasisDate: "2026-11-01T00:00:00Z", OwningService: name,
			RunID: hostileRun.RunID, CheckedAt: hostileRun.CheckedAt, MaxAgeDays: 30})
	}
	return NewReport("rotcheck", hostileRun, rows, true)
}

// markdownCells splits a Markdown table line into its cells, undoing the
// backslash escapes, as a Markdown reader does.
func markdownCells(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |")
	var cells []string
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line):
			i++
			b.WriteByte(line[i])
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

// Every format keeps one secret on one row, whatever its name, and shows
// the name as text: a Markdown reader reads back the name (its lines
// joined), HTML stays escaped, and JSON keeps it exactly.
func TestHostileNamesStayOneRowAsText(t *testing.T) {
	r := hostileReport()
	n := len(hostileNames)
	render := func(t *testing.T, f Format) string {
		var buf bytes.Buffer
		if err := WriteReport(&buf, r, f); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	t.Run("table", func(t *testing.T) {
		is := is.New(t)
		lines := strings.Split(strings.TrimSuffix(render(t, Table), "\n"), "\n")
		is.Equal(len(lines), 1+1+n+1) // the incomplete run, the header, a line per secret, the summary
		for i, row := range r.Rows {
			line := lines[2+i]
			is.True(strings.HasPrefix(line, cell(row.SecretName))) // the secret's own line
			is.True(!strings.ContainsRune(line, '\x1b'))           // no terminal escape gets through
		}
		is.True(strings.Contains(render(t, Table), `\x1b[31mred`)) // shown as an escape
	})
	t.Run("markdown", func(t *testing.T) {
		is := is.New(t)
		out := render(t, Markdown)
		var table []string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "|") {
				table = append(table, line)
			}
		}
		is.Equal(len(table), 2+n) // the header, the rule, a line per secret
		for i, row := range r.Rows {
			cells := markdownCells(table[2+i])
			is.Equal(len(cells), 7)                     // no pipe split a cell
			is.Equal(cells[0], cell(row.SecretName))    // the name, read back
			is.Equal(cells[6], cell(row.OwningService)) // every text cell is escaped
		}
		is.True(!strings.Contains(out, "<script>"))                     // no raw HTML
		is.True(strings.Contains(out, `\<script\>alert(1)\</script\>`)) // but the name, escaped
	})
	t.Run("csv", func(t *testing.T) {
		is := is.New(t)
		out := render(t, CSV)
		is.Equal(strings.Count(out, "\n"), 1+n) // one line per record: no cell spans lines
		records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		is.NoErr(err)
		is.Equal(len(records), 1+n)
		got := map[string]bool{}
		for _, rec := range records[1:] {
			got[rec[0]] = true
			for _, c := range rec {
				is.True(c == "" || !strings.ContainsRune("=+-@\t\r", rune(c[0]))) // no cell is read as a formula
			}
			is.Equal(rec[runComplete:runComplete+2], []string{"false", `list secrets: throttled; =cmd|' /C calc'!A0; write rows: context deadline exceeded`}) // the run's error, one line (a formula mid-cell is text)
		}
		for _, want := range []string{"'=1+2", "'@x", "'+x", "'-x", `'=HYPERLINK("http://evil.example","click")`, "first; =1+2", "'@home",
			"<script>alert(1)</script>", "pässwörd/日本語/🔑", "/prod/db/password", "line1; line2", "tab here", strings.Repeat("n", 512)} {
			is.True(got[want]) // neutralised with a quote, or as it was
		}
	})
	t.Run("json", func(t *testing.T) {
		is := is.New(t)
		out := render(t, JSON)
		is.True(!strings.Contains(out, "<script>")) // escaped for HTML too
		var doc struct {
			Secrets []audit.Record `json:"secrets"`
		}
		is.NoErr(json.Unmarshal([]byte(out), &doc))
		var names []string
		for _, s := range doc.Secrets {
			names = append(names, s.SecretName)
		}
		var want []string
		for _, row := range r.Rows {
			want = append(want, row.SecretName)
		}
		is.Equal(names, want) // JSON keeps every name exactly
	})
}

// A run whose error has several lines is one row of the run log in every
// format.
func TestRunErrorsStayOneRow(t *testing.T) {
	runs := []audit.RunEntry{hostileRun, sampleRun}
	for _, f := range []Format{Table, Markdown, CSV} {
		t.Run(string(f), func(t *testing.T) {
			is := is.New(t)
			var buf bytes.Buffer
			is.NoErr(WriteRuns(&buf, runs, f))
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			want := map[Format]int{Table: 1 + 2 + 1, Markdown: 2 + 2, CSV: 1 + 2}[f] // header (and rule), a line per run (and the count)
			is.Equal(len(lines), want)
			is.True(strings.Contains(buf.String(), "list secrets: throttled; ")) // the error's lines, joined
		})
	}
}

// A report of an incomplete run says so, and why, in every format, with
// secrets or without; a complete run's report says nothing of the kind.
func TestIncompleteRunSaysSo(t *testing.T) {
	why := "list secrets: throttled; =cmd|' /C calc'!A0; write rows: context deadline exceeded" // the error's lines, joined
	for _, rows := range [][]audit.Record{nil, sampleRows} {
		r := NewReport("rotcheck", hostileRun, rows, true)
		for _, f := range Formats {
			t.Run(string(f), func(t *testing.T) {
				is := is.New(t)
				var buf bytes.Buffer
				is.NoErr(WriteReport(&buf, r, f))
				out := buf.String()
				switch f {
				case Table:
					is.True(strings.HasPrefix(out, "INCOMPLETE RUN: run run-1798370282000 did not complete")) // first, not missed
					is.True(strings.Contains(out, why))
					is.True(!strings.Contains(out, "No secret needs rotation.")) // not a clean answer
				case Markdown:
					is.True(strings.Contains(out, "> **Incomplete run:** run run-1798370282000 did not complete"))
					is.True(strings.Contains(out, mdText(why)))
					is.True(!strings.Contains(out, "No secret needs rotation."))
				case JSON:
					var doc struct {
						Complete bool   `json:"complete"`
						Warning  string `json:"warning"`
					}
					is.NoErr(json.Unmarshal(buf.Bytes(), &doc))
					is.True(!doc.Complete)
					is.True(strings.HasSuffix(doc.Warning, "(its error: "+why+")"))
				case CSV:
					records, err := csv.NewReader(&buf).ReadAll()
					is.NoErr(err)
					is.Equal(records[0][runComplete:runComplete+2], []string{"run_complete", "run_error"})
					for _, rec := range records[1:] {
						is.Equal(rec[runComplete:runComplete+2], []string{"false", why})
					}
					is.Equal(len(records), 1+len(rows))
				}
				is.True(strings.Contains(strings.ToLower(out), "incomplete") || f == CSV || f == JSON) // the word, where there is prose
			})
		}
	}
	is := is.New(t)
	r := NewReport("rotcheck", sampleRun, nil, false)
	is.Equal(r.Incomplete(), "")
	var buf bytes.Buffer
	is.NoErr(WriteReport(&buf, r, Table))
	is.Equal(buf.String(), "No secret needs rotation.\n"+r.Summary()+"\n")
	is.True(!strings.Contains(r.Summary(), "incomplete"))
}

// runComplete is the index of the run_complete column, followed by
// run_error.
var runComplete = slices.Index(ReportColumns, "run_complete")
