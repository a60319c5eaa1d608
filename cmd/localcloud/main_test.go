package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/matryer/is"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			is.True(errors.Is(err, errUsage)) // exit status 2
			is.True(strings.Contains(err.Error(), tt.want))
		})
	}
}

func TestHelp(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	is.NoErr(run(context.Background(), []string{"help"}, &stdout, &stderr))
	for _, cmd := range []string{"run", "up", "serve", "deploy", "teardown", "bench"} {
		is.True(strings.Contains(stdout.String(), "\n  "+cmd+" ")) // every command is listed
	}
	err := run(context.Background(), []string{"up", "-h"}, &stdout, &stderr)
	is.True(errors.Is(err, flag.ErrHelp)) // exit status 0
	is.True(strings.Contains(stderr.String(), "-clock-speed"))
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
		"9 resources deleted; clean: nothing left behind",
		"[clitest-check] ", // the function's own log line
		"total ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
