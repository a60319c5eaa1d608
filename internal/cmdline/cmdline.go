// Package cmdline holds what the project's commands (localcloud and
// rotation-audit) share on the command line: the error that marks a
// mistake the user can fix, flag parsing that returns it, and the one
// mapping from a command's error to the line it prints and its exit
// status. It imports only the standard library.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses every command shares; a command may add its own above
// them with WithStatus.
const (
	StatusOK      = 0
	StatusFailure = 1 // anything else: the cloud refused, a check failed
	StatusUsage   = 2 // a mistake the user can fix: see ErrUsage
)

// ErrUsage marks errors the user can fix (exit status 2). Its text is
// "usage", which Exit trims from the message it prints.
var ErrUsage = errors.New("usage")

// Parse parses a command's flags. A bad flag or a stray argument is a
// usage error, and nothing is printed for it: the caller prints the one
// line Exit makes of it, which says where the help is. -h writes the
// command's help (fs.Usage) to stderr and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	help := fs.Usage
	// The flag package prints the error and the whole help for a bad
	// flag; silence both, and print the help only when asked for.
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = help
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		if help != nil {
			help()
		} else {
			fmt.Fprintf(stderr, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return err
	case err != nil:
		return WithHelp(fmt.Errorf("%s: %w", err.Error(), ErrUsage), fs.Name())
	case fs.NArg() > 0:
		return WithHelp(fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), ErrUsage), fs.Name())
	}
	return nil
}

// helpError is an error whose fix is in a command's help.
type helpError struct {
	err     error
	command string
}

func (e *helpError) Error() string { return e.err.Error() }
func (e *helpError) Unwrap() error { return e.err }

// WithHelp marks err as one the help of command answers: Exit adds
// (run "PROGRAM COMMAND -h") to its line. An empty command is the
// program's own help (an unknown command, none given).
func WithHelp(err error, command string) error {
	return &helpError{err: err, command: command}
}

// statusError gives an error its own exit status.
type statusError struct {
	err    error
	status int
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// WithStatus gives err its own exit status, beyond the shared ones (such
// as rotation-audit's 3, secrets need rotation). errors.Is still finds err
// through the result.
func WithStatus(err error, status int) error {
	return &statusError{err: err, status: status}
}

// Exit writes the one line a command's error makes to stderr, "PROGRAM:
// message", and returns the exit status: 0 for nil and for -h (the help is
// already written); a WithStatus error's own; 2 for ErrUsage, the line
// ending with where the help is when WithHelp said so; 1 for anything
// else. The line is always one line: a message that spans several (as
// errors.Join makes) has its lines joined with "; ".
func Exit(program string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return StatusOK
	}
	msg := strings.TrimSuffix(err.Error(), ": "+ErrUsage.Error())
	var help *helpError
	if errors.As(err, &help) {
		msg += fmt.Sprintf(" (run %q)", strings.TrimSpace(program+" "+help.command)+" -h")
	}
	fmt.Fprintf(stderr, "%s: %s\n", program, oneLine(msg))
	var st *statusError
	switch {
	case errors.As(err, &st):
		return st.status
	case errors.Is(err, ErrUsage):
		return StatusUsage
	}
	return StatusFailure
}

// oneLine joins the lines of s with "; ", dropping blank ones.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\u2028\u2029\u0085") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool {
		return r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085'
	})
	kept := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "; ")
}
