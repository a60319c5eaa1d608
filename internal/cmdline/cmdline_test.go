package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// newFlags is a command's flag set with one flag and a help text.
func newFlags(help *bytes.Buffer) *flag.FlagSet {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.Bool("all", false, "every secret")
	fs.Usage = func() {
		fmt.Fprintln(help, "Usage: rotation-audit report [flags]")
		fs.PrintDefaults()
	}
	return fs
}

// A bad flag is one line on stderr, naming the mistake and where the
// help is, and exit status 2: not the help, not the error twice.
func TestBadFlagIsOneLine(t *testing.T) {
	for _, args := range [][]string{{"-nosuchflag"}, {"-all=maybe"}, {"now"}} {
		t.Run(args[0], func(t *testing.T) {
			is := is.New(t)
			var stderr bytes.Buffer
			err := Parse(newFlags(&stderr), args, &stderr)
			is.True(errors.Is(err, ErrUsage))
			is.Equal(stderr.String(), "") // Parse prints nothing: the one line is Exit's
			is.Equal(Exit("rotation-audit", err, &stderr), StatusUsage)
			out := stderr.String()
			is.Equal(strings.Count(out, "\n"), 1)                                         // one line
			is.True(strings.HasPrefix(out, "rotation-audit: "))                           // the program
			is.True(strings.HasSuffix(out, ` (run "rotation-audit report -h")`+"\n"))     // where the help is
			is.True(!strings.Contains(out, "Usage") && !strings.Contains(out, ": usage")) // no help, no marker
		})
	}
	is := is.New(t)
	var stderr bytes.Buffer
	err := Parse(newFlags(&stderr), []string{"-nosuchflag"}, &stderr)
	Exit("rotation-audit", err, &stderr)
	is.Equal(stderr.String(), `rotation-audit: flag provided but not defined: -nosuchflag (run "rotation-audit report -h")`+"\n")
}

// -h writes the command's help, flags included, and exits 0 with nothing
// more.
func TestHelpFlag(t *testing.T) {
	is := is.New(t)
	var stderr bytes.Buffer
	err := Parse(newFlags(&stderr), []string{"-h"}, &stderr)
	is.True(errors.Is(err, flag.ErrHelp))
	is.True(strings.HasPrefix(stderr.String(), "Usage: rotation-audit report [flags]\n")) // the command's help...
	is.True(strings.Contains(stderr.String(), "-all"))                                    // ...with its flags
	before := stderr.Len()
	is.Equal(Exit("rotation-audit", err, &stderr), StatusOK)
	is.Equal(stderr.Len(), before) // nothing added
}

func TestExit(t *testing.T) {
	errFlagged := WithStatus(errors.New("2 secrets need rotation"), 3)
	tests := []struct {
		name   string
		err    error
		status int
		line   string
	}{
		{"success", nil, StatusOK, ""},
		{"failure", errors.New("write run log: throttled"), StatusFailure, "prog: write run log: throttled\n"},
		{"usage", fmt.Errorf("-format: format %q: want table: %w", "xml", ErrUsage), StatusUsage, "prog: -format: format \"xml\": want table\n"},
		{"unknown command", WithHelp(fmt.Errorf("unknown command %q: %w", "x", ErrUsage), ""), StatusUsage, "prog: unknown command \"x\" (run \"prog -h\")\n"},
		{"own status", fmt.Errorf("report: %w", errFlagged), 3, "prog: report: 2 secrets need rotation\n"},
		{"several lines", errors.Join(errors.New("a failed"), errors.New("b failed\n")), StatusFailure, "prog: a failed; b failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var stderr bytes.Buffer
			is.Equal(Exit("prog", tt.err, &stderr), tt.status)
			is.Equal(stderr.String(), tt.line)
		})
	}
	is := is.New(t)
	is.True(errors.Is(fmt.Errorf("x: %w", errFlagged), errFlagged)) // a sentinel with a status is still found
}
