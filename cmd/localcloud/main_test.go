package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
		{"unknown flag", []string{"run", "-nope"}, "flag provided but not defined: -nope"},
		{"stray argument", []string{"run", "extra"}, `unexpected argument "extra"`},
		{"param without value", []string{"deploy", "-param", "MaxAgeDays"}, `"MaxAgeDays" is not Name=Value`},
		{"bench runs", []string{"bench", "-runs", "0", "-template", "../../template.yaml"}, "-runs must be at least 1"},
		{"negative clock speed", []string{"serve", "-clock-speed", "-1"}, "clock speed -1 is out of range: it must be from 1 (real time) to 100000"},
		{"zero clock speed", []string{"up", "-clock-speed", "0"}, "clock speed 0 is out of range"},
		{"NaN clock speed", []string{"serve", "-clock-speed", "NaN"}, "clock speed NaN is out of range"},
		{"infinite clock speed", []string{"serve", "-clock-speed", "Inf"}, "clock speed +Inf is out of range"},
		{"huge clock speed", []string{"serve", "-clock-speed", "1e7"}, "clock speed 1e+07 is out of range"},
		{"bad clock start", []string{"serve", "-clock-start", "yesterday"}, "flag -clock-start: time \"yesterday\""},
		{"clock both moves", []string{"clock", "-advance", "1d", "-to", "2027-01-01"}, "give -advance or -to, not both"},
		{"clock bad duration", []string{"clock", "-advance", "a month"}, `-advance: duration "a month"`},
		{"clock backwards duration", []string{"clock", "-advance", "-1d"}, "must be positive"},
		{"clock bad time", []string{"clock", "-to", "soon"}, `-to: time "soon"`},
		{"long stack name", []string{"run", "-template", "../../template.yaml", "-stack", strings.Repeat("s", 129)}, "1 to 128 characters"},
		{"fractional MaxAgeDays", []string{"run", "-template", "../../template.yaml", "-param", "MaxAgeDays=1.5"}, "whole number of days from 1 to 3650"},
		{"demo bad quarter", []string{"demo", "-quarter", "2026Q5"}, `-quarter: quarter "2026Q5"`},
		{"demo too many days", []string{"demo", "-days", "93"}, "-days: 93 is not between 0 and the quarter's 92 days"},
		{"bench-latency bad size", []string{"bench-latency", "-secrets", "1000,many"}, `-secrets: "many" is not a positive number`},
		{"bench-latency bad percentage", []string{"bench-latency", "-edited", "101"}, "-edited: 101 is not a percentage"},
		{"bad account count", []string{"serve", "-accounts", "0"}, "-accounts 0: want 1 to 1000 accounts"},
		{"bad account ID", []string{"up", "-accounts", "111,222"}, `-accounts: "111" is not a 12-digit account ID`},
		{"bad region", []string{"serve", "-regions", "us-east-1,mars"}, `-regions: "mars" is not a region name`},
		{"region outside regions", []string{"up", "-regions", "eu-west-1"}, "the cloud's region us-east-1 must be one of them"},
		{"bad schedule expression", []string{"run", "-template", "../../template.yaml", "-param", "ScheduleExpression=rate(0 hours)"}, "rate(0 hours)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			is.True(errors.Is(err, errUsage)) // the user's mistake
			is.Equal(exit(err, io.Discard), 2)
			is.True(strings.Contains(err.Error(), tt.want))
		})
	}
}

func TestExitStatus(t *testing.T) {
	is := is.New(t)
	status := func(err error) int { return exit(err, io.Discard) }
	is.Equal(status(nil), 0)
	is.Equal(status(fmt.Errorf("clock: %w", flag.ErrHelp)), 0)          // -h is not an error
	is.Equal(status(fmt.Errorf("-to: bad: %w", errUsage)), 2)           // a mistake in the call
	is.Equal(status(fmt.Errorf("x: %w", clockapi.ErrUnreachable)), 2)   // no cloud at the endpoint
	is.Equal(status(fmt.Errorf("x: %w", clockapi.ErrRefused)), 2)       // a move the cloud refused
	is.Equal(status(errors.New("teardown: 1 resource left behind")), 1) // a failure
	is.Equal(status(fmt.Errorf("stopped: %w", context.Canceled)), 1)    // interrupted

	var line bytes.Buffer
	is.Equal(exit(cmdline.WithHelp(fmt.Errorf("unknown command %q: %w", "bogus", errUsage), ""), &line), 2)
	is.Equal(line.String(), "localcloud: unknown command \"bogus\" (run \"localcloud -h\")\n") // one line, and where the help is
}

func TestHelp(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	is.NoErr(run(context.Background(), []string{"help"}, &stdout, &stderr))
	for _, cmd := range []string{"run", "up", "serve", "deploy", "teardown", "clock", "invoke", "bench", "bench-latency", "demo"} {
		is.True(strings.Contains(stdout.String(), "\n  "+cmd+" ")) // every command is listed
	}
	err := run(context.Background(), []string{"up", "-h"}, &stdout, &stderr)
	is.True(errors.Is(err, flag.ErrHelp)) // exit status 0
	is.True(strings.Contains(stderr.String(), "-clock-speed"))
	is.True(strings.Contains(stderr.String(), "-clock-start"))
	stderr.Reset()
	err = run(context.Background(), []string{"clock", "-h"}, &stdout, &stderr)
	is.True(errors.Is(err, flag.ErrHelp))
	is.True(strings.Contains(stderr.String(), "never moves back")) // the help explains the clock
	is.True(strings.Contains(stderr.String(), "waits for it"))     // and moves made together

	stdout.Reset()
	is.NoErr(run(context.Background(), []string{"-h"}, &stdout, &stderr))
	for _, want := range []string{"Exit status:\n  0  success\n  1  a failure", "\n  2  a mistake to fix in the call", "no local cloud answering"} {
		is.True(strings.Contains(stdout.String(), want)) // the usage documents every exit status
	}
}

// downEndpoint is the URL of a port nothing listens on.
func downEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// With no cloud at the endpoint, every command that needs one says so in
// one line and exits 2, as rotation-audit does, before printing anything.
func TestEndpointDown(t *testing.T) {
	down := downEndpoint(t)
	stack := []string{"-endpoint", down, "-template", "../../template.yaml"}
	for _, args := range [][]string{
		{"clock", "-endpoint", down},
		{"clock", "-endpoint", down, "-advance", "3d"},
		{"clock", "-endpoint", down, "-to", "2030-01-01"},
		{"invoke", "-endpoint", down},
		append([]string{"teardown"}, stack...),
		append([]string{"deploy"}, stack...),
	} {
		t.Run(args[0], func(t *testing.T) {
			is := is.New(t)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			var line bytes.Buffer
			is.Equal(exit(err, &line), 2)
			is.Equal(line.String(), "localcloud: cannot reach the local cloud at "+down+": is `make local-up` running?\n")
			is.Equal(stdout.String(), "") // nothing before the one line
		})
	}
}

// The clock command reads and moves a running cloud's clock, and says so
// plainly when nothing answers.
func TestClockCommand(t *testing.T) {
	is := is.New(t)
	cloud, err := localcloud.Start(localcloud.Options{ClockStart: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	is.NoErr(err)
	defer cloud.Close()
	var stdout, stderr bytes.Buffer
	is.NoErr(run(context.Background(), []string{"clock", "-endpoint", cloud.URL}, &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), "cloud time 2026-10-01T00:00")) // where it started

	stdout.Reset()
	is.NoErr(run(context.Background(), []string{"clock", "-endpoint", cloud.URL, "-advance", "31d"}, &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), "moved 2026-10-01T00:00"))
	is.True(strings.Contains(stdout.String(), "-> 2026-11-01T00:00"))
	is.True(strings.Contains(stdout.String(), "0 fires, 0 failed"))

	stdout.Reset()
	err = run(context.Background(), []string{"clock", "-endpoint", cloud.URL, "-to", "2026-10-15"}, &stdout, &stderr)
	var out bytes.Buffer
	is.Equal(exit(err, &out), 2) // a time already past is the user's to fix
	line := strings.TrimSuffix(out.String(), "\n")
	is.True(strings.HasPrefix(line, "localcloud: -to: the cloud clock only moves forward: it is 2026-11-01T00:0")) // says why
	is.True(strings.HasSuffix(line, ", 2026-10-15T00:00:00Z is 408h0m0s earlier"))                                 // and by how much
	is.True(!strings.Contains(line, "\n"))
	is.Equal(stdout.String(), "") // in one line: nothing says the clock is moving

	err = run(context.Background(), []string{"clock", "-endpoint", cloud.URL, "-advance", "10000000d"}, &stdout, &stderr)
	is.Equal(exit(err, io.Discard), 2)
	is.True(strings.Contains(err.Error(), `duration "10000000d" is too large: the limit is 36500d`)) // the real problem

	err = run(context.Background(), []string{"clock", "-endpoint", "not-a-url"}, &stdout, &stderr)
	is.Equal(exit(err, io.Discard), 2)
	is.True(strings.Contains(err.Error(), `-endpoint "not-a-url": want a URL such as http://localhost:4566`))

	// An endpoint that answers but is not an embedded cloud has no clock.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	err = run(context.Background(), []string{"clock", "-endpoint", plain.URL, "-advance", "1d"}, &stdout, &stderr)
	is.Equal(exit(err, io.Discard), 2)
	is.True(strings.Contains(err.Error(), "is not this tool's embedded cloud"))
}

// deploy, clock, invoke and teardown work from a shell against a running
// cloud, as the README shows: a month later both seeded secrets are flagged.
func TestDeployClockInvokeTeardown(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	cloud, err := localcloud.Start(localcloud.Options{})
	is.NoErr(err)
	defer cloud.Close()
	var stdout, stderr bytes.Buffer
	common := []string{"-endpoint", cloud.URL, "-stack", "shell", "-template", "../../template.yaml"}
	is.NoErr(run(ctx, append([]string{"deploy"}, common...), &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), "the embedded cloud: the function is built for")) // it knows where it deploys
	is.NoErr(run(ctx, []string{"clock", "-endpoint", cloud.URL, "-advance", "31d"}, &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), "744 fires, 0 failed"))

	stdout.Reset()
	is.NoErr(run(ctx, []string{"invoke", "-endpoint", cloud.URL, "-stack", "shell"}, &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), `"checked":2,"flagged":2`)) // judged at cloud time

	is.NoErr(run(ctx, append([]string{"teardown"}, common...), &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), "15 resources deleted; clean: nothing left behind"))
	err = run(ctx, []string{"invoke", "-endpoint", cloud.URL, "-stack", "shell"}, &stdout, &stderr)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "is stack shell deployed at")) // says what is missing
}

func TestDeployIntoAMemberAccount(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	cloud, err := localcloud.Start(localcloud.Options{Accounts: []string{"000000000000", "111111111111"}})
	is.NoErr(err)
	defer cloud.Close()
	var stdout, stderr bytes.Buffer
	args := []string{"-endpoint", cloud.URL, "-account", "111111111111", "-region", "eu-west-1", "-stack", "member",
		"-template", "../../internal/localcloud/testdata/member-role.yaml"}
	is.NoErr(run(ctx, append([]string{"deploy"}, args...), &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), "arn:aws:iam::111111111111:role/member-audit"))                       // the role is the member's
	is.True(strings.Contains(stdout.String(), "arn:aws:secretsmanager:eu-west-1:111111111111:secret:member-probe")) // in the region asked for
	is.NoErr(run(ctx, append([]string{"teardown"}, args...), &stdout, &stderr))
	is.True(strings.Contains(stdout.String(), "2 resources deleted; clean: nothing left behind"))
}

// With SeedTestSecrets=false (what samconfig.toml deploys to AWS) the
// scenarios expect what that stack holds: nothing to check.
func TestRunCycleWithoutTestSecrets(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"run", "-template", "../../template.yaml", "-stack", "noseed", "-param", "SeedTestSecrets=false"}, &stdout, &stderr)
	out := stdout.String()
	is.NoErr(err)
	for _, want := range []string{
		"no test secrets (SeedTestSecrets=false), so B expects checked 0",
		"PASS  checked 0, fresh run_id run-",
		"PASS  no rows: the stack has no managed secrets",
		"D  skipped: it needs the test secrets",
		"12 resources deleted; clean: nothing left behind",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A template or parameter mistake is reported before anything starts.
func TestRunRefusesBadParameterUpFront(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"run", "-template", "../../template.yaml", "-param", "SeedTestSecrets=maybe"}, &stdout, &stderr)
	is.True(errors.Is(err, errUsage)) // the user's mistake: exit status 2
	is.True(strings.Contains(err.Error(), `parameter SeedTestSecrets="maybe" is not one of true, false`))
	is.Equal(stdout.String(), "") // nothing built, started or deployed
}

// The main job, end to end in this process: what `make local` prints.
func TestRunCycle(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"run", "-template", "../../template.yaml", "-stack", "clitest"}, &stdout, &stderr)
	out := stdout.String()
	is.NoErr(err)
	for _, want := range []string{
		"PASS  enabled, rate(1 hour), targets clitest-check",
		"PASS  checked 2, fresh run_id run-",
		"PASS  exactly 2 new rows, none for clitest-ignored",
		"PASS  checked 2, flagged 1: a tag edit does not hide a 31-day-old value",
		"15 resources deleted; clean: nothing left behind",
		"[clitest-check] ", // the function's own log line
		"total ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The demo's first two days: 48 hourly runs of the 40 planned secrets,
// the evidence printed with no gap, then torn down.
func TestDemo(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"demo", "-template", "../../template.yaml", "-stack", "demotest", "-days", "2", "-serve=false"}, &stdout, &stderr)
	out := stdout.String()
	is.NoErr(err)
	for _, want := range []string{
		"demo: 40 secrets from 2026-08-02, 60 days before 2026Q4",
		"(48 scheduled runs, 0 failed)",
		"runs: 48 expected from the schedule rate(1 hour), 48 recorded (100.0%)",
		"secrets: 39 seen, ", // every one but sandbox-experiment, which is Managed=false
		"payments-hsm-pin ",  // never rotated: flagged from the first day
		"gaps: none, the control ran every time it should have",
		"demo: teardown: ", "clean: nothing left behind",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Two runs at a small added latency make exactly the minimum calls: the
// pages, the batches, a lookup per secret edited before the run (the
// second reuses the first's), the run log's PutItem, and the Queries of
// the previous run: the run log's, and on the second run its rows'.
func TestBenchLatency(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench-latency", "-template", "../../template.yaml", "-stack", "lattest", "-secrets", "150", "-latency", "1ms", "-edited", "10"}, &stdout, &stderr)
	is.NoErr(err)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	is.Equal(len(lines), 4) // the title, the header, a row per run
	// secrets run took floor took/floor ListSecrets BatchWriteItem ListSecretVersionIds Query other peak
	first, second := strings.Fields(lines[2]), strings.Fields(lines[3])
	is.Equal(first[:2], []string{"150", "first"})
	is.Equal(first[3], "2ms")                                 // two pages at 1 ms
	is.Equal(first[5:10], []string{"2", "6", "15", "1", "1"}) // 150/100 pages, 150/25 batches, 10% looked up, no previous run, the run log
	is.Equal(second[:2], []string{"150", "second"})
	is.Equal(second[5:10], []string{"2", "6", "15", "2", "1"}) // the other 10% looked up, the first 10% reused; the previous run read
}

// make help lists every target a person runs: each .PHONY target but help
// itself and the one SAM calls (build-RotationCheckFunction).
func TestMakeHelpListsEveryTarget(t *testing.T) {
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := strings.ReplaceAll(string(data), "\\\n", " ")
	var phony, help []string // help: the targets make help names
	inHelp := false
	for line := range strings.Lines(mk) {
		switch {
		case strings.HasPrefix(line, ".PHONY:"):
			phony = append(phony, strings.Fields(strings.TrimPrefix(line, ".PHONY:"))...)
		case strings.HasPrefix(line, "help:"):
			inHelp = true
		case inHelp && strings.HasPrefix(line, "\t@echo \"make "):
			// "make a | b | c   what they do": the targets are a, b and c.
			words := strings.Fields(strings.Trim(strings.TrimPrefix(line, "\t@echo \"make "), "\"\n"))
			help = append(help, words[0])
			for i := 1; i+1 < len(words) && words[i] == "|"; i += 2 {
				help = append(help, words[i+1])
			}
		default:
			inHelp = false
		}
	}
	if len(phony) < 10 || len(help) < 10 {
		t.Fatalf("could not read the Makefile: %d phony targets, %d in help", len(phony), len(help))
	}
	for _, target := range phony {
		if target == "help" || target == "build-RotationCheckFunction" || strings.HasPrefix(target, "$(") {
			continue
		}
		if !slices.Contains(help, target) {
			t.Errorf("make help does not list %s", target)
		}
	}
}
