// Package cmdline holds what the project's commands (localcloud and
// rotation-audit) share on the command line: the error that marks a
// mistake the user can fix, which they exit with status 2 for, and flag
// parsing that returns it. It imports only the standard library.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// ErrUsage marks errors the user can fix (exit status 2). Its text is
// "usage", which a command trims from the message it prints.
var ErrUsage = errors.New("usage")

// Parse parses a command's flags, writing help and flag errors to stderr.
// A bad flag or a stray argument is a usage error; -h is flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %w", err.Error(), ErrUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), ErrUsage)
	}
	return nil
}
