package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/cfn"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/deploy"
	"github.com/rotation-audit/rotation-audit/internal/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/scenario"
)

// tutorialSeconds is how long the LocalEmu tutorial's cycle takes.
const tutorialSeconds = 32

// phases are the timed parts of one cycle.
type phases struct {
	start, deploy, a, b, c, d, teardown time.Duration
	// cold is a function process's start to its first answer (bench only).
	cold time.Duration
}

func (p phases) total() time.Duration { return p.start + p.deploy + p.a + p.b + p.c + p.d + p.teardown }

// cycle is one run of the main job.
type cycle struct {
	flags   stackFlags
	tmpl    *cfn.Template
	builder *bootstrap.Builder
	out     io.Writer // the report; io.Discard when benchmarking
	logs    io.Writer // function and clock output
	cold    bool      // also measure a cold start
}

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
	c.logs = linewriter.Prefixed(stdout, "     ")
	if *quiet {
		c.logs = io.Discard
	}
	fmt.Fprintf(stdout, "rotation-audit: stack %s from %s on the embedded cloud (kumo, in-process; no Docker, no account)\n", sf.stack, sf.template)
	start := time.Now()
	fmt.Fprintf(stdout, "build     bootstrap for %s/%s (go build; the first build compiles the AWS SDK, about 15 s)", runtime.GOOS, runtime.GOARCH)
	if _, err := c.builder.Zip(ctx, runtime.GOOS, runtime.GOARCH); err != nil {
		fmt.Fprintln(stdout)
		return err
	}
	fmt.Fprintf(stdout, "%s\n", took(time.Since(start)))
	p, err := c.run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "total     %s  (start %s, deploy %s, A %s, B %s, C %s, D %s, teardown %s; the LocalEmu tutorial takes about %d s)\n",
		round(p.total()), round(p.start), round(p.deploy), round(p.a), round(p.b), round(p.c), round(p.d), round(p.teardown), tutorialSeconds)
	return nil
}

// newCycle reads and validates the template, so that a template or
// parameter mistake is reported before anything starts, and prepares the
// function build.
func newCycle(sf stackFlags, out io.Writer) (*cycle, error) {
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
	return &cycle{flags: sf, tmpl: tmpl, builder: b, out: out, logs: io.Discard}, nil
}

// run starts a fresh embedded cloud and goes through every phase. Whatever
// fails, it still tears the stack down and stops the cloud.
func (c *cycle) run(ctx context.Context) (p phases, err error) {
	t := time.Now()
	cloud, err := localcloud.Start(localcloud.Options{Region: c.flags.region, Logs: c.logs})
	if err != nil {
		return p, err
	}
	p.start = time.Since(t)
	c.printf("start     kumo at %s, function runner, scheduler%s\n", cloud.URL, took(p.start))
	defer cloud.Close()

	clients := deploy.NewClients(cloud.URL, c.flags.region)
	d := &deploy.Deployer{
		Clients: clients, Stack: c.flags.stack, Params: c.flags.params,
		Code: c.builder.Code(true), Logs: linewriter.Prefixed(c.out, "     "), Embedded: true,
	}
	// Tear down even after a failure or Ctrl-C, so nothing is left behind.
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		t := time.Now()
		c.printf("teardown  reverse dependency order, then check every name is gone\n")
		clean, terr := teardown(cleanup, d, c.tmpl, c.out)
		p.teardown = time.Since(t)
		c.printf("          %s%s\n", clean, took(p.teardown))
		err = errors.Join(err, terr)
	}()

	t = time.Now()
	c.printf("deploy    %s\n", c.flags.template)
	stack, err := d.Deploy(ctx, c.tmpl)
	p.deploy = time.Since(t)
	if err != nil {
		return p, err
	}
	c.printf("          %s%s\n", deployed(stack), took(p.deploy))
	printOutputs(c.out, stack.Outputs)
	s, err := scenario.FromOutputs(stack.Outputs)
	if err != nil {
		return p, err
	}
	if !s.Seeded() {
		c.printf("          note: no test secrets (SeedTestSecrets=false), so B expects checked 0 and C no rows\n")
	}
	fnARN := resourceARN(stack, "AWS::Lambda::Function")

	t = time.Now()
	sched, err := scenario.ScheduleConfig(ctx, clients.Scheduler, s)
	p.a = time.Since(t)
	if err != nil {
		return p, err
	}
	c.printf("A  aws scheduler get-schedule --name %s%s\n", s.Schedule, took(p.a))
	c.printf("     State %s, ScheduleExpression %s (%s), FlexibleTimeWindow %s\n", sched.State,
		aws.ToString(sched.ScheduleExpression), aws.ToString(sched.ScheduleExpressionTimezone), sched.FlexibleTimeWindow.Mode)
	c.printf("     Target.Arn     %s\n     Target.RoleArn %s\n     Target.Input   %s\n",
		aws.ToString(sched.Target.Arn), aws.ToString(sched.Target.RoleArn), aws.ToString(sched.Target.Input))
	if err := c.verdict("A", scenario.CheckScheduleConfig(s, fnARN, sched), "enabled, "+s.ScheduleExpression+", targets "+s.Function); err != nil {
		return p, err
	}

	t = time.Now()
	c.printf("B  invoke %s as the scheduler does (Input with the context attributes filled in)\n", s.Function)
	runAt := scenario.ScheduledTimeAt(cloud.Scheduler().Clock().Now())
	before, err := scenario.RunRows(ctx, clients.DynamoDB, s, fmt.Sprintf("run-%d", runAt.UnixMilli()))
	if err != nil {
		return p, err
	}
	inv, err := scenario.InvokeAsScheduler(ctx, clients.Lambda, sched, runAt)
	p.b = time.Since(t)
	if err != nil {
		return p, err
	}
	result, _ := json.Marshal(inv.Result)
	c.printf("     %s%s\n", result, took(p.b))
	if err := c.verdict("B", scenario.CheckInvocation(s, inv, len(before)), fmt.Sprintf("checked %d, fresh run_id %s", inv.Result.Checked, inv.Result.RunID)); err != nil {
		return p, err
	}

	t = time.Now()
	rows, err := scenario.RunRows(ctx, clients.DynamoDB, s, inv.Result.RunID)
	if err != nil {
		return p, err
	}
	var ignored *audit.Record
	if s.Seeded() {
		if ignored, err = scenario.Row(ctx, clients.DynamoDB, s, s.Ignored, inv.Result.RunID); err != nil {
			return p, err
		}
	}
	p.c = time.Since(t)
	c.printf("C  query %s (index by-run) for run_id = %s%s\n", s.Table, inv.Result.RunID, took(p.c))
	for _, r := range rows {
		c.printf("     %-20s %-15s %-19s age %dd  checked_at %s\n", r.SecretName, r.Status, r.Reason, deref(r.AgeDays), r.CheckedAt)
	}
	summary := fmt.Sprintf("exactly %d new rows, none for %s", len(rows), s.Ignored)
	if !s.Seeded() {
		summary = "no rows: the stack has no managed secrets"
	}
	if err := c.verdict("C", scenario.CheckRunRows(s, inv.Result.RunID, rows, ignored), summary); err != nil {
		return p, err
	}

	t = time.Now()
	if err := c.valueAge(ctx, cloud, clients, s, sched); err != nil {
		return p, err
	}
	p.d = time.Since(t)

	if c.cold {
		if p.cold, err = coldStart(ctx, cloud, clients, s.Function); err != nil {
			return p, err
		}
	}
	return p, nil
}

// valueAge is scenario D: a month later, with the fresh secret rotated and
// a tag edited on the stale one, the stale one's old value is still found.
// The clock jumps the month without the 744 fires in between, so that the
// cycle stays well under a second.
func (c *cycle) valueAge(ctx context.Context, cloud *localcloud.Cloud, clients *deploy.Clients, s scenario.Stack, sched *scheduler.GetScheduleOutput) error {
	if !s.Seeded() {
		c.printf("D  skipped: it needs the test secrets (SeedTestSecrets=true)\n")
		return nil
	}
	t := time.Now()
	c.printf("D  a month later (the cloud clock jumps 31 days): rotate %s, edit a tag on %s, invoke as the scheduler\n", s.Fresh, s.Stale)
	if _, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: scenario.AMonthLater.String(), SkipFires: true}); err != nil {
		return err
	}
	if err := scenario.EditAfterAMonth(ctx, clients.SecretsManager, s); err != nil {
		return err
	}
	inv, err := scenario.InvokeAsScheduler(ctx, clients.Lambda, sched, cloud.Scheduler().Clock().Now())
	if err != nil {
		return err
	}
	rows, err := scenario.RunRows(ctx, clients.DynamoDB, s, inv.Result.RunID)
	if err != nil {
		return err
	}
	result, _ := json.Marshal(inv.Result)
	c.printf("     %s%s\n", result, took(time.Since(t)))
	for _, r := range rows {
		c.printf("     %-20s %-15s basis %-16s age %2dd  basis_date %s\n", r.SecretName, r.Status, r.Basis, deref(r.AgeDays), r.BasisDate)
	}
	return c.verdict("D", scenario.CheckValueAge(s, inv, rows), "checked 2, flagged 1: a tag edit does not hide a 31-day-old value")
}

// deref is the value of an optional age, or -1.
func deref(n *int) int {
	if n == nil {
		return -1
	}
	return *n
}

// deployed says how many resources a deploy created, updated and skipped.
func deployed(s *deploy.StackResult) string {
	out := fmt.Sprintf("%d resources created, %d updated", s.Created, s.Updated)
	if s.Skipped > 0 {
		out += fmt.Sprintf(", %d skipped (see the notes)", s.Skipped)
	}
	return out
}

// verdict prints PASS or the problems of a scenario.
func (c *cycle) verdict(name string, problems []string, summary string) error {
	if len(problems) == 0 {
		c.printf("   PASS  %s\n", summary)
		return nil
	}
	for _, p := range problems {
		c.printf("   FAIL  %s\n", p)
	}
	return fmt.Errorf("scenario %s failed: %s", name, strings.Join(problems, "; "))
}

func (c *cycle) printf(format string, args ...any) { fmt.Fprintf(c.out, format, args...) }

// teardown deletes the stack and says whether anything is left.
func teardown(ctx context.Context, d *deploy.Deployer, tmpl *cfn.Template, out io.Writer) (string, error) {
	res, err := d.Teardown(ctx, tmpl)
	if res == nil {
		return "teardown failed", err
	}
	if len(res.Unnamed) > 0 {
		fmt.Fprintf(out, "          names the template cannot give (delete these by hand if they exist):\n            %s\n", strings.Join(res.Unnamed, "\n            "))
		err = errors.Join(err, fmt.Errorf("teardown could not work out %d names", len(res.Unnamed)))
	}
	if len(res.Leftovers) == 0 && err == nil {
		return fmt.Sprintf("%d resources deleted; clean: nothing left behind", len(res.Deleted)), nil
	}
	var left []string
	for _, r := range res.Leftovers {
		left = append(left, fmt.Sprintf("%s %s", r.Type, r.Name))
	}
	if len(left) > 0 {
		fmt.Fprintf(out, "          left behind:\n            %s\n", strings.Join(left, "\n            "))
		err = errors.Join(err, fmt.Errorf("teardown left %d resources behind: %s", len(left), strings.Join(left, ", ")))
	}
	return "NOT clean", err
}

// coldStart restarts the function's process (as a code update does) and
// times its start to its first answer.
func coldStart(ctx context.Context, cloud *localcloud.Cloud, clients *deploy.Clients, fn string) (time.Duration, error) {
	if _, err := clients.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(fn), Description: aws.String("restarted to time a cold start"),
	}); err != nil {
		return 0, fmt.Errorf("restart %s: %w", fn, err)
	}
	started, ok := cloud.FunctionStarted(fn)
	if !ok {
		return 0, fmt.Errorf("%s did not restart", fn)
	}
	out, err := clients.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte("{}")})
	if err != nil {
		return 0, fmt.Errorf("invoke %s: %w", fn, err)
	}
	if out.FunctionError != nil {
		return 0, fmt.Errorf("invoke %s: %s", fn, out.Payload)
	}
	return time.Since(started), nil
}

// resourceARN is the ARN of the stack's first resource of a type.
func resourceARN(s *deploy.StackResult, typ string) string {
	for _, r := range s.Resources {
		if r.Type == typ {
			return r.ARN
		}
	}
	return ""
}

func printOutputs(w io.Writer, outputs map[string]string) {
	fmt.Fprintln(w, "          Outputs:")
	names := make([]string, 0, len(outputs))
	for name := range outputs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "            %-20s %s\n", name, outputs[name])
	}
}

// took renders a phase's duration at the end of its line.
func took(d time.Duration) string { return "  [" + round(d).String() + "]" }

func round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
