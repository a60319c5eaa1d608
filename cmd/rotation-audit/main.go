// Command rotation-audit answers security's quarterly question from the
// audit the rotation-check function records: which secrets need rotation
// now (report), the evidence for a period (history), the run log (runs),
// and a web dashboard. It reads with the SDK's default configuration
// (profiles, SSO, environment) from AWS, or from any local endpoint given
// with -endpoint-url (the embedded cloud, LocalEmu, LocalStack).
//
// Run "rotation-audit help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
)

const usage = `rotation-audit: which credentials have not been rotated in over thirty days?

Usage: rotation-audit <command> [flags]

Commands:
  report     the answer for one run (the latest by default): the secrets that
             need rotation, oldest first, and a summary line
  history    the evidence for a period (a quarter by default): each secret day
             by day, and the runs the schedule expected against those recorded
  runs       the run log: every run, complete or not
  dashboard  the web dashboard, read-only, until Ctrl-C

Run "rotation-audit <command> -h" for a command's flags. Every command finds the
tables from -stack (default rotcheck), or -table and -runs-table.

Examples:
  rotation-audit report                        # against AWS, with your profile
  rotation-audit report -format csv > q.csv
  rotation-audit history -quarter 2026Q4 -format markdown
  rotation-audit report -endpoint-url http://localhost:4566   # the embedded cloud (make local-up)

Exit status:
  0  success
  1  failure (the cloud refused a call, a write failed)
  2  a mistake to fix: a flag, no such table or the wrong one, no run yet, no
     credentials, the endpoint down
  3  report -fail-on-flagged: secrets need rotation
  4  report: the run is incomplete (it stopped with an error, so secrets it did
     not reach are missing); this wins over 3
`

// Exit statuses beyond cmdline's 0, 1 and 2.
const (
	exitFlagged    = 3
	exitIncomplete = 4
)

// errUsage marks errors the user can fix (exit status 2).
var errUsage = cmdline.ErrUsage

// errFlagged is returned by report -fail-on-flagged when secrets need
// rotation (exit status 3).
var errFlagged = cmdline.WithStatus(errors.New("secrets need rotation"), exitFlagged)

// errIncomplete is returned by report for a run that did not complete
// (exit status 4): its answer leaves out the secrets it did not reach.
var errIncomplete = cmdline.WithStatus(errors.New("incomplete run"), exitIncomplete)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cmdline.Exit("rotation-audit", err, os.Stderr))
}

// run dispatches to a command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cmdline.WithHelp(fmt.Errorf("no command given: want report, history, runs or dashboard: %w", errUsage), "")
	}
	commands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"report": cmdReport, "history": cmdHistory, "runs": cmdRuns, "dashboard": cmdDashboard,
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	f, ok := commands[args[0]]
	if !ok {
		return cmdline.WithHelp(fmt.Errorf("unknown command %q: want report, history, runs or dashboard: %w", args[0], errUsage), "")
	}
	return f(ctx, args[1:], stdout, stderr)
}
