package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cycle"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	quiet := fs.Bool("quiet", false, "hide the function's own log lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud run [flags]\n\nStart the embedded cloud, deploy, check scenarios A, B and C, tear down; print each phase's time.")
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	c, err := newCycle(sf, stdout)
	if err != nil {
		return err
	}
	job := c.job()
	job.Logs = linewriter.Prefixed(stdout, "     ")
	if *quiet {
		job.Logs = io.Discard
	}
	return job.Once(ctx)
}

// prepared is a checked template and the build of its function: what every
// command that deploys starts from.
type prepared struct {
	flags   stackFlags
	tmpl    *cfn.Template
	builder *bootstrap.Builder
	out     io.Writer // the report
}

// newCycle reads and validates the template, so that a template or
// parameter mistake is reported before anything starts, and prepares the
// function build.
func newCycle(sf stackFlags, out io.Writer) (*prepared, error) {
	// Both are the user's to fix, so they exit with the usage status.
	tmpl, err := sf.load()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errUsage)
	}
	check := &deploy.Deployer{Clients: &deploy.Clients{Region: sf.region}, Stack: sf.stack, Params: sf.params}
	if err := check.Validate(tmpl); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", sf.template, err, errUsage)
	}
	root, err := bootstrap.ModuleRoot(".")
	if err != nil {
		return nil, err
	}
	b := &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	return &prepared{flags: sf, tmpl: tmpl, builder: b, out: out}, nil
}

// job is the scenario cycle of the prepared stack, reporting to its out.
func (c *prepared) job() *cycle.Job {
	return &cycle.Job{
		Template: c.tmpl, TemplatePath: c.flags.template, Stack: c.flags.stack, Region: c.flags.region,
		Params: c.flags.params, Builder: c.builder, Out: c.out,
	}
}
