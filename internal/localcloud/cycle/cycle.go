// Package cycle is the local cloud's main job: on a fresh embedded cloud,
// deploy the stack, check scenarios A to D (package scenario), tear down
// and check nothing is left, timing each phase and writing the report as
// it goes. The run command prints one cycle; bench times many, a move of
// the cloud clock and a cold start; bench-latency times one run of the
// function behind the latency proxy; demo and up share its teardown and
// report lines.
//
// It imports the embedded cloud (package localcloud and its latency and
// memstat packages), the deployer, the scenario checks and the SDK
// clients they take; only the localcloud command imports it.
package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
)

// TutorialSeconds is how long the LocalEmu tutorial's cycle takes.
const TutorialSeconds = 32

// Phases are the timed parts of one cycle.
type Phases struct {
	Start, Deploy, A, B, C, D, Teardown time.Duration
	// Cold is a function process's start to its first answer (Job.Cold only).
	Cold time.Duration
}

// Total is the cycle's time, start to teardown.
func (p Phases) Total() time.Duration {
	return p.Start + p.Deploy + p.A + p.B + p.C + p.D + p.Teardown
}

// Job is a checked template and how to deploy it, run on a fresh embedded
// cloud each time.
type Job struct {
	Template     *cfn.Template
	TemplatePath string // the template's file, as the report names it
	Stack        string
	Region       string
	Params       map[string]string
	Builder      *bootstrap.Builder // builds the function for this host
	Out          io.Writer          // the report; io.Discard when benchmarking
	Logs         io.Writer          // function and clock output; nil discards it
	Cold         bool               // also time a cold start
}

// Deployer deploys the job's stack to an embedded cloud, writing a line
// per resource to logs (nil: none).
func (j *Job) Deployer(cloudURL string, logs io.Writer) *deploy.Deployer {
	return &deploy.Deployer{
		Clients: deploy.NewClients(cloudURL, j.Region), Stack: j.Stack, Params: j.Params,
		Code: j.Builder.Code(true), Logs: logs, Embedded: true,
	}
}

// Once is the run command: it builds the function, runs one cycle with
// its report, and prints the total.
func (j *Job) Once(ctx context.Context) error {
	j.printf("rotation-audit: stack %s from %s on the embedded cloud (kumo, in-process; no Docker, no account)\n", j.Stack, j.TemplatePath)
	start := time.Now()
	how := "go build; the first build compiles the AWS SDK, about 15 s"
	if j.Builder.Cached(runtime.GOOS, runtime.GOARCH) {
		how = "sources unchanged: the cached build"
	}
	j.printf("build     bootstrap for %s/%s (%s)", runtime.GOOS, runtime.GOARCH, how)
	if _, err := j.Builder.Zip(ctx, runtime.GOOS, runtime.GOARCH); err != nil {
		j.printf("\n")
		return err
	}
	j.printf("%s\n", Took(time.Since(start)))
	p, err := j.Run(ctx)
	if err != nil {
		return err
	}
	j.printf("total     %s  (start %s, deploy %s, A %s, B %s, C %s, D %s, teardown %s; the LocalEmu tutorial takes about %d s)\n",
		Round(p.Total()), Round(p.Start), Round(p.Deploy), Round(p.A), Round(p.B), Round(p.C), Round(p.D), Round(p.Teardown), TutorialSeconds)
	return nil
}

// Run starts a fresh embedded cloud and goes through every phase. Whatever
// fails, it still tears the stack down and stops the cloud.
func (j *Job) Run(ctx context.Context) (p Phases, err error) {
	t := time.Now()
	cloud, err := localcloud.Start(localcloud.Options{Region: j.Region, Logs: j.Logs})
	if err != nil {
		return p, err
	}
	p.Start = time.Since(t)
	j.printf("start     kumo at %s, function runner, scheduler%s\n", cloud.URL, Took(p.Start))
	defer cloud.Close()

	d := j.Deployer(cloud.URL, linewriter.Prefixed(j.Out, "     "))
	clients := d.Clients
	// Tear down even after a failure or Ctrl-C, so nothing is left behind.
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		t := time.Now()
		j.printf("teardown  reverse dependency order, then check every name is gone\n")
		clean, terr := Teardown(cleanup, d, j.Template, j.Out)
		p.Teardown = time.Since(t)
		j.printf("          %s%s\n", clean, Took(p.Teardown))
		err = errors.Join(err, terr)
	}()

	t = time.Now()
	j.printf("deploy    %s\n", j.TemplatePath)
	stack, err := d.Deploy(ctx, j.Template)
	p.Deploy = time.Since(t)
	if err != nil {
		return p, err
	}
	j.printf("          %s%s\n", Deployed(stack), Took(p.Deploy))
	PrintOutputs(j.Out, stack.Outputs)
	s, err := scenario.FromOutputs(stack.Outputs)
	if err != nil {
		return p, err
	}
	if !s.Seeded() {
		j.printf("          note: no test secrets (SeedTestSecrets=false), so B expects checked 0 and C no rows\n")
	}
	fnARN := resourceARN(stack, "AWS::Lambda::Function")

	t = time.Now()
	sched, err := scenario.ScheduleConfig(ctx, clients.Scheduler, s)
	p.A = time.Since(t)
	if err != nil {
		return p, err
	}
	j.printf("A  aws scheduler get-schedule --name %s%s\n", s.Schedule, Took(p.A))
	j.printf("     State %s, ScheduleExpression %s (%s), FlexibleTimeWindow %s\n", sched.State,
		aws.ToString(sched.ScheduleExpression), aws.ToString(sched.ScheduleExpressionTimezone), sched.FlexibleTimeWindow.Mode)
	j.printf("     Target.Arn     %s\n     Target.RoleArn %s\n     Target.Input   %s\n",
		aws.ToString(sched.Target.Arn), aws.ToString(sched.Target.RoleArn), aws.ToString(sched.Target.Input))
	if err := j.verdict("A", scenario.CheckScheduleConfig(s, fnARN, sched), "enabled, "+s.ScheduleExpression+", targets "+s.Function); err != nil {
		return p, err
	}

	t = time.Now()
	j.printf("B  invoke %s as the scheduler does (Input with the context attributes filled in)\n", s.Function)
	runAt := scenario.ScheduledTimeAt(cloud.Scheduler().Clock().Now())
	before, err := scenario.RunRows(ctx, clients.DynamoDB, s, tables.NewRunID(runAt))
	if err != nil {
		return p, err
	}
	inv, err := scenario.InvokeAsScheduler(ctx, clients.Lambda, sched, runAt)
	p.B = time.Since(t)
	if err != nil {
		return p, err
	}
	result, _ := json.Marshal(inv.Result)
	j.printf("     %s%s\n", result, Took(p.B))
	if err := j.verdict("B", scenario.CheckInvocation(s, inv, len(before)), fmt.Sprintf("checked %d, fresh run_id %s", inv.Result.Checked, inv.Result.RunID)); err != nil {
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
	p.C = time.Since(t)
	j.printf("C  query %s (index by-run) for run_id = %s%s\n", s.Table, inv.Result.RunID, Took(p.C))
	for _, r := range rows {
		j.printf("     %-20s %-15s %-19s age %dd  checked_at %s\n", r.SecretName, r.Status, r.Reason, deref(r.AgeDays), r.CheckedAt)
	}
	summary := fmt.Sprintf("exactly %d new rows, none for %s", len(rows), s.Ignored)
	if !s.Seeded() {
		summary = "no rows: the stack has no managed secrets"
	}
	if err := j.verdict("C", scenario.CheckRunRows(s, inv.Result.RunID, rows, ignored), summary); err != nil {
		return p, err
	}

	t = time.Now()
	if err := j.valueAge(ctx, cloud, clients, s, sched); err != nil {
		return p, err
	}
	p.D = time.Since(t)

	if j.Cold {
		if p.Cold, err = coldStart(ctx, cloud, clients, s.Function); err != nil {
			return p, err
		}
	}
	return p, nil
}

// valueAge is scenario D: a month later, with the fresh secret rotated and
// a tag edited on the stale one, the stale one's old value is still found.
// The clock jumps the month without the 744 fires in between, so that the
// cycle stays well under a second.
func (j *Job) valueAge(ctx context.Context, cloud *localcloud.Cloud, clients *deploy.Clients, s scenario.Stack, sched *scheduler.GetScheduleOutput) error {
	if !s.Seeded() {
		j.printf("D  skipped: it needs the test secrets (SeedTestSecrets=true)\n")
		return nil
	}
	t := time.Now()
	j.printf("D  a month later (the cloud clock jumps 31 days): rotate %s, edit a tag on %s, invoke as the scheduler\n", s.Fresh, s.Stale)
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
	j.printf("     %s%s\n", result, Took(time.Since(t)))
	for _, r := range rows {
		j.printf("     %-20s %-15s basis %-16s age %2dd  basis_date %s\n", r.SecretName, r.Status, r.Basis, deref(r.AgeDays), r.BasisDate)
	}
	return j.verdict("D", scenario.CheckValueAge(s, inv, rows), "checked 2, flagged 1: a tag edit does not hide a 31-day-old value")
}

// verdict prints PASS or the problems of a scenario.
func (j *Job) verdict(name string, problems []string, summary string) error {
	if len(problems) == 0 {
		j.printf("   PASS  %s\n", summary)
		return nil
	}
	for _, p := range problems {
		j.printf("   FAIL  %s\n", p)
	}
	return fmt.Errorf("scenario %s failed: %s", name, strings.Join(problems, "; "))
}

func (j *Job) printf(format string, args ...any) { fmt.Fprintf(j.Out, format, args...) }

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

// Teardown deletes the stack and says whether anything is left, listing on
// out what is.
func Teardown(ctx context.Context, d *deploy.Deployer, tmpl *cfn.Template, out io.Writer) (string, error) {
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

// resourceARN is the ARN of the stack's first resource of a type.
func resourceARN(s *deploy.StackResult, typ string) string {
	for _, r := range s.Resources {
		if r.Type == typ {
			return r.ARN
		}
	}
	return ""
}
