package orgscenario

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

// jobFlags are the flags both commands share.
func jobFlags(fs *flag.FlagSet) (hub, member, stack *string) {
	hub = fs.String("template", "template.yaml", "the hub's SAM template")
	member = fs.String("member", "member-role.yaml", "the member accounts' template")
	stack = fs.String("stack", "orghub", "the hub's stack name")
	return
}

// job reads and parses both templates and prepares the function build;
// a template that cannot be read is the caller's to fix.
func job(hubPath, memberPath, stack string, out io.Writer) (*Job, error) {
	j := &Job{HubPath: hubPath, MemberPath: memberPath, Stack: stack, Out: out}
	for path, t := range map[string]**cfn.Template{hubPath: &j.Hub, memberPath: &j.Member} {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read template: %w: %w", err, cmdline.ErrUsage)
		}
		if *t, err = cfn.Parse(data); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", path, err, cmdline.ErrUsage)
		}
	}
	root, err := bootstrap.ModuleRoot(".")
	if err != nil {
		return nil, err
	}
	j.Builder = &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	return j, nil
}

// Command is `localcloud org` (make local-org): scenario E, with its report.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("org", flag.ContinueOnError)
	hub, member, stack := jobFlags(fs)
	quiet := fs.Bool("quiet", false, "hide the function's own log lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud org [flags]\n\nScenario E: an organization of 3 accounts and 2 regions, the hub deployed with\nAccounts=ORGANIZATION, member-role.yaml in two accounts, one run; then teardown.")
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	j, err := job(*hub, *member, *stack, stdout)
	if err != nil {
		return err
	}
	if !*quiet {
		j.Logs = Logs(stdout)
	}
	start := time.Now()
	fmt.Fprintf(stdout, "rotation-audit: scenario E, the organization's answer, on the embedded cloud (%s and %s)\n", *hub, *member)
	if _, err := j.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "total     %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// BenchCommand is `localcloud bench-org` (make bench-org).
func BenchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-org", flag.ContinueOnError)
	hub, member, stack := jobFlags(fs)
	b := &Bench{Progress: stderr}
	fs.IntVar(&b.Accounts, "accounts", 1000, "accounts in the organization, the hub's included")
	fs.IntVar(&b.Regions, "regions", 4, fmt.Sprintf("regions audited in every account (1 to %d)", len(BenchRegions)))
	fs.IntVar(&b.Secrets, "secrets", 50, "Managed=true secrets per account and region")
	fs.IntVar(&b.Concurrency, "concurrency", 10, "the units mapping's MaximumConcurrency (WorkerConcurrency)")
	fs.DurationVar(&b.Latency, "latency", 20*time.Millisecond, "added to every AWS call the function makes")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud bench-org [flags]\n\nTime one organization run at AWS-like latency: fire to complete run, calls by kind,\nunits per second, peak memory of the coordinator and of the worker process.")
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case b.Accounts < 1 || b.Accounts > 10000:
		return fmt.Errorf("-accounts %d: want 1 to 10000: %w", b.Accounts, cmdline.ErrUsage)
	case b.Regions < 1 || b.Regions > len(BenchRegions):
		return fmt.Errorf("-regions %d: want 1 to %d: %w", b.Regions, len(BenchRegions), cmdline.ErrUsage)
	case b.Secrets < 0 || b.Concurrency < 2 || b.Concurrency > 1000:
		return fmt.Errorf("-secrets must be 0 or more and -concurrency 2 to 1000: %w", cmdline.ErrUsage)
	}
	j, err := job(*hub, *member, *stack, io.Discard)
	if err != nil {
		return err
	}
	b.Job = *j
	r, err := b.Run(ctx)
	if err != nil {
		return err
	}
	return r.Report(stdout, b)
}
