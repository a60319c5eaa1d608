// Command localcloud runs rotation-audit's stack without an AWS account: it
// deploys template.yaml into kumo, an AWS emulator embedded in this process
// (or into any local endpoint such as LocalEmu, LocalStack or moto), runs the
// tutorial's scenarios against it and tears it down.
//
// Run "localcloud help" for the commands.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/orgscenario"
)

const usage = `localcloud: the rotation-audit stack on a local AWS emulator, no account needed.

Usage: localcloud <command> [flags]

Commands:
  run       the whole cycle on the embedded cloud: start, deploy template.yaml,
            scenarios A (schedule), B (invoke as the scheduler), C (audit rows),
            D (a month later: the age of the value), teardown, with the time
            each phase took                                       (make local)
  up        serve the embedded cloud with the stack deployed and the scheduler
            clock running, until Ctrl-C; then tear down            (make local-up)
  serve     serve the embedded cloud alone (like "localemu start")
  deploy    deploy the stack to an endpoint                         (make deploy-local)
  teardown  delete the stack from an endpoint and check nothing is left
                                                                    (make teardown-local)
  clock     read the cloud clock of a running embedded cloud, or move it
            forward (firing every schedule in between)            (make clock)
  invoke    invoke the stack's function as its schedule would, at the cloud
            time (scenario B from a shell)                        (make invoke-local)
  bench     run the cycle several times; min/median/max per phase  (make bench-cycle)
  bench-latency  one run of the real function with a fixed latency added to every
            AWS call: run time against the paging floor, calls, memory (make bench-latency)
  demo      a quarter on a laptop: 40 secrets, a quarter of hourly runs, the
            evidence printed, then the dashboard                  (make demo)
  org       scenario E: 3 accounts, 2 regions, one organization run (make local-org)
  bench-org one organization run at AWS-like latency              (make bench-org)

Run "localcloud <command> -h" for a command's flags.

Environment:
  LOCALCLOUD_ADDR  default listen address of up and serve (127.0.0.1:4566)
  ENDPOINT         default endpoint of deploy, teardown and clock (http://localhost:4566)

Exit status:
  0  success
  1  a failure: a scenario failed, a deploy failed, a teardown left something
     behind, a function or a clock move failed
  2  a mistake to fix in the call (an unknown command or flag, a bad value, a
     clock move backwards or over its limits), or no local cloud answering at
     the endpoint (clock, invoke, deploy, teardown)
`

// errUsage marks errors in how the command was called (exit status 2).
var errUsage = cmdline.ErrUsage

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exit(err, os.Stderr))
}

// exit prints the one line an error makes and returns the status the
// usage text documents: 0 for success or -h, 2 for a mistake in the call
// or no local cloud at the endpoint (the user's to fix), 1 for any other
// failure.
func exit(err error, stderr io.Writer) int {
	if errors.Is(err, clockapi.ErrUnreachable) || errors.Is(err, clockapi.ErrRefused) {
		err = fmt.Errorf("%w: %w", err, errUsage)
	}
	return cmdline.Exit("localcloud", err, stderr)
}

// run dispatches to a command. Function processes and the scheduler write
// to stdout from their own goroutines, so every write goes through one lock.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stdout = linewriter.NewSynced(stdout)
	if len(args) == 0 {
		return cmdline.WithHelp(fmt.Errorf("no command given: %w", errUsage), "")
	}
	cmd, args := args[0], args[1:]
	commands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"run": cmdRun, "up": cmdUp, "serve": cmdServe, "deploy": cmdDeploy, "teardown": cmdTeardown,
		"clock": cmdClock, "invoke": cmdInvoke, "bench": cmdBench, "bench-latency": cmdBenchLatency,
		"demo": cmdDemo, "org": orgscenario.Command, "bench-org": orgscenario.BenchCommand,
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	f, ok := commands[cmd]
	if !ok {
		return cmdline.WithHelp(fmt.Errorf("unknown command %q: %w", cmd, errUsage), "")
	}
	return f(ctx, args, stdout, stderr)
}

// stackFlags are the flags every command that deploys shares.
type stackFlags struct {
	template string
	stack    string
	region   string
	params   params
}

func (s *stackFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.template, "template", "template.yaml", "the SAM template to deploy")
	fs.StringVar(&s.stack, "stack", "rotcheck", "stack name; resource names derive from it")
	fs.StringVar(&s.region, "region", localcloud.DefaultRegion, "AWS region")
	fs.Var(&s.params, "param", "template parameter override `Name=Value` (repeatable), e.g. -param MaxAgeDays=90")
}

// load reads and parses the template.
func (s *stackFlags) load() (*cfn.Template, error) {
	data, err := os.ReadFile(s.template)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := cfn.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.template, err)
	}
	return t, nil
}

// params collects -param Name=Value flags.
type params map[string]string

func (p *params) String() string { return "" }

func (p *params) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q is not Name=Value", v)
	}
	if *p == nil {
		*p = params{}
	}
	(*p)[name] = value
	return nil
}

// setDefault sets a parameter the user has not set.
func (p *params) setDefault(name, value string) {
	if _, ok := (*p)[name]; ok {
		return
	}
	if *p == nil {
		*p = params{}
	}
	(*p)[name] = value
}

// endpointFlag registers -endpoint, a running cloud's URL (env ENDPOINT).
func endpointFlag(fs *flag.FlagSet, what string) *string {
	return fs.String("endpoint", cmp.Or(os.Getenv("ENDPOINT"), "http://localhost:4566"), what+" (env ENDPOINT)")
}

// checkEndpoint refuses an -endpoint that is not an http(s) URL with a
// host, which would otherwise fail as a cloud that does not answer.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-endpoint %q: want a URL such as http://localhost:4566: %w", endpoint, errUsage)
	}
	return nil
}
