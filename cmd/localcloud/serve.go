package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cycle"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

// cloudFlags are the flags of the commands that serve an embedded cloud.
// A bad speed or start time fails the parse, as the user's to fix.
type cloudFlags struct {
	opts              localcloud.Options
	accounts, regions string
}

func (c *cloudFlags) register(fs *flag.FlagSet) {
	c.opts.ClockSpeed = 1
	fs.StringVar(&c.opts.Addr, "addr", cmp.Or(os.Getenv("LOCALCLOUD_ADDR"), localcloud.DefaultAddr), "listen address (env LOCALCLOUD_ADDR)")
	fs.Func("clock-speed", fmt.Sprintf("cloud seconds per real second, 1 to %d: 3600 makes rate(1 hour) fire every second (default 1)", schedule.MaxSpeed), func(v string) error {
		speed, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		c.opts.ClockSpeed = speed
		return schedule.CheckSpeed(speed)
	})
	fs.Func("clock-start", "cloud time at start, RFC 3339 or a date such as 2026-10-01 (default now)", func(v string) (err error) {
		c.opts.ClockStart, err = schedule.ParseTime(v)
		return err
	})
	fs.StringVar(&c.accounts, "accounts", "", "an organization: N accounts (000000000000 manages; members 111111111111, 222222222222, ...) or a list of account IDs")
	fs.StringVar(&c.regions, "regions", "", "the regions Secrets Manager answers in, e.g. us-east-1,eu-west-1 (default any)")
}

// check sets the cloud's region and reads -accounts and -regions, which
// depend on it; a mistake there is the user's to fix.
func (c *cloudFlags) check(region string) (err error) {
	c.opts.Region = region
	if c.opts.Accounts, c.opts.Regions, err = accounts.ParseFlags(c.accounts, c.regions, region); err != nil {
		return fmt.Errorf("%w: %w", err, errUsage)
	}
	return nil
}

// start starts the embedded cloud, its logs on out, and says where it
// serves.
func (c *cloudFlags) start(out io.Writer) (*localcloud.Cloud, error) {
	opts := c.opts
	opts.Logs = out
	t := time.Now()
	cloud, err := localcloud.Start(opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "embedded cloud (kumo, in-process) ready at %s in %s\n%s", cloud.URL, cycle.Round(time.Since(t)), cloud.Banner())
	return cloud, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cf cloudFlags
	cf.register(fs)
	region := fs.String("region", localcloud.DefaultRegion, "AWS region")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud serve [flags]\n\nServe the embedded cloud until Ctrl-C: any SDK or `aws --endpoint-url` works against it,\ndeployed functions run as local processes and schedules fire on the cloud clock.")
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	if err := cf.check(*region); err != nil {
		return err
	}
	cloud, err := cf.start(stdout)
	if err != nil {
		return err
	}
	defer cloud.Close()
	fmt.Fprintf(stdout, "Serving at %s. Deploy with:  make deploy-local ENDPOINT=%s\nMove the clock with:  bin/localcloud clock -advance 31d -endpoint %s\nCtrl-C stops it.\n", cloud.URL, cloud.URL, cloud.URL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	var cf cloudFlags
	cf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud up [flags]\n\nServe the embedded cloud with the stack deployed and its schedule firing on the cloud clock,\nuntil Ctrl-C; then tear the stack down.")
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	if err := cf.check(sf.region); err != nil {
		return err
	}
	c, err := newCycle(sf, stdout)
	if err != nil {
		return err
	}
	cloud, err := cf.start(stdout)
	if err != nil {
		return err
	}
	defer cloud.Close()
	d := &deploy.Deployer{
		Clients: deploy.NewClients(cloud.URL, sf.region), Stack: sf.stack, Params: sf.params,
		Code: c.builder.Code(true), Logs: linewriter.Prefixed(stdout, "  "), Embedded: true,
	}
	defer func() {
		fmt.Fprintln(stdout, "tearing down")
		clean, err := cycle.Teardown(context.WithoutCancel(ctx), d, c.tmpl, stdout)
		if err != nil {
			fmt.Fprintln(stdout, "localcloud:", err)
		}
		fmt.Fprintln(stdout, clean)
	}()
	t := time.Now()
	fmt.Fprintf(stdout, "deploying %s as stack %s to %s\n", sf.template, sf.stack, cloud.URL)
	stack, err := d.Deploy(ctx, c.tmpl)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deployed in %s\n", cycle.Round(time.Since(t)))
	cycle.PrintOutputs(stdout, stack.Outputs)
	fmt.Fprintf(stdout, `
The stack is up at %[1]s. Try (any credentials and region do; without a profile set
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=%[2]s):

  aws --endpoint-url %[1]s scheduler get-schedule --name %[3]s
  aws --endpoint-url %[1]s lambda invoke --function-name %[4]s --payload '{}' out.json && cat out.json
  aws --endpoint-url %[1]s dynamodb scan --table-name %[5]s
  bin/localcloud clock -advance 31d -endpoint %[1]s     (a month of hourly runs, in seconds)

(AWS CLI v2 also needs --cli-binary-format raw-in-base64-out for --payload.)
%[6]s
Ctrl-C tears the stack down and stops.
`, cloud.URL, sf.region, stack.Outputs["ScheduleName"], stack.Outputs["FunctionName"], stack.Outputs["TableName"], cloud.ClockBanner())
	<-ctx.Done()
	return nil
}

// endpointDeployer reads the flags of deploy and teardown and returns a
// deployer for the endpoint they name.
func endpointDeployer(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (*deploy.Deployer, *cfn.Template, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	endpoint := endpointFlag(fs, "the endpoint: this tool's serve/up, LocalEmu, LocalStack or moto")
	account := fs.String("account", "", "act as this account: a 12-digit access key ID (embedded cloud, LocalStack)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: localcloud %s [flags]\n\n", name)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return nil, nil, err
	}
	if err := checkEndpoint(*endpoint); err != nil {
		return nil, nil, err
	}
	c, err := newCycle(sf, stdout)
	if err != nil {
		return nil, nil, err
	}
	if err := clockapi.Reach(ctx, *endpoint); err != nil {
		return nil, nil, err
	}
	info, embedded := clockapi.Probe(ctx, *endpoint)
	kind := "an external endpoint: the function is the linux build for the template's architecture"
	if embedded {
		kind = fmt.Sprintf("the embedded cloud: the function is built for %s/%s and runs there as a process", info.GOOS, info.GOARCH)
	}
	fmt.Fprintf(stdout, "%s: stack %s at %s (%s)\n", name, sf.stack, *endpoint, kind)
	d := &deploy.Deployer{
		Clients: deploy.NewAccountClients(*endpoint, sf.region, *account), Stack: sf.stack, Params: sf.params,
		Code: c.builder.Code(embedded), Logs: linewriter.Prefixed(stdout, "  "), Embedded: embedded,
	}
	return d, c.tmpl, nil
}

func cmdDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d, tmpl, err := endpointDeployer(ctx, "deploy", args, stdout, stderr)
	if err != nil {
		return err
	}
	t := time.Now()
	stack, err := d.Deploy(ctx, tmpl)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deployed: %s in %s\n", cycle.Deployed(stack), cycle.Round(time.Since(t)))
	cycle.PrintOutputs(stdout, stack.Outputs)
	return nil
}

func cmdTeardown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d, tmpl, err := endpointDeployer(ctx, "teardown", args, stdout, stderr)
	if err != nil {
		return err
	}
	t := time.Now()
	clean, err := cycle.Teardown(ctx, d, tmpl, stdout)
	fmt.Fprintf(stdout, "%s (%s)\n", clean, cycle.Round(time.Since(t)))
	return err
}

func cmdClock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clock", flag.ContinueOnError)
	endpoint := endpointFlag(fs, "a running embedded cloud (make local-up or make serve)")
	advance := fs.String("advance", "", "move the clock forward by this much: 31d, 1d12h, 744h")
	to := fs.String("to", "", "move the clock forward to this time: RFC 3339 or a date such as 2027-02-28")
	skip := fs.Bool("skip-fires", false, "move the clock without firing the schedules in between")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: localcloud clock [-advance 31d | -to TIME] [-endpoint URL]

Without flags, print the cloud time and the armed schedules. With -advance or -to,
move the clock forward: every schedule fires at each of its times in between, in
order, each run judged at its own scheduled time; the command returns when they
have all run. The clock never moves back, one move fires at most 50000 times and
-advance goes at most 36500d. A move sent while another runs waits for it, then
makes its own full move.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	if *advance != "" && *to != "" {
		return fmt.Errorf("give -advance or -to, not both: %w", errUsage)
	}
	if err := checkEndpoint(*endpoint); err != nil {
		return err
	}
	move := clockapi.ClockMove{Advance: *advance, To: *to, SkipFires: *skip}
	if move.Advance != "" {
		if _, err := schedule.ParseDuration(move.Advance); err != nil {
			return fmt.Errorf("-advance: %w: %w", err, errUsage)
		}
	}
	var toTime time.Time
	if move.To != "" {
		t, err := schedule.ParseTime(move.To)
		if err != nil {
			return fmt.Errorf("-to: %w: %w", err, errUsage)
		}
		toTime = t
	}
	// Read the clock first: a cloud that is not there, or a time already
	// past, is one line, before anything says the clock is moving.
	state, err := clockapi.ReadClock(ctx, *endpoint)
	if err != nil {
		return err
	}
	if move.To != "" {
		if err := schedule.CheckForward(state.Now, toTime); err != nil {
			return fmt.Errorf("-to: %w: %w", err, errUsage)
		}
	}
	if move.Advance != "" || move.To != "" {
		fmt.Fprintf(stdout, "moving the cloud clock at %s forward; every schedule fires on the way...\n", *endpoint)
		moved, err := clockapi.MoveClock(ctx, *endpoint, move)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "moved %s -> %s: %d fires, %d failed, in %s\n", moved.From.Format(time.RFC3339), moved.To.Format(time.RFC3339),
			moved.Fired, moved.Failed, cycle.Round(time.Duration(moved.TookMS)*time.Millisecond))
		if moved.Failed > 0 {
			defer fmt.Fprintln(stdout, "the cloud's log (make local-up's terminal) says why each failed run failed")
		}
		if state, err = clockapi.ReadClock(ctx, *endpoint); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "cloud time %s (%gx real time)\n", state.Now.Format(time.RFC3339), state.Speed)
	for _, s := range state.Schedules {
		fmt.Fprintf(stdout, "  %-28s %-24s next %s\n", s.Name, s.Expression, s.NextFire.UTC().Format(time.RFC3339))
	}
	return nil
}

func cmdInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	endpoint := endpointFlag(fs, "a running embedded cloud (make local-up)")
	stack := fs.String("stack", "rotcheck", "stack name")
	region := fs.String("region", localcloud.DefaultRegion, "AWS region")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: localcloud invoke [-stack NAME] [-endpoint URL]

Invoke the stack's function the way its schedule does, at the cloud's current time:
the schedule's Input with the scheduler's context attributes filled in (scenario B).`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	if err := checkEndpoint(*endpoint); err != nil {
		return err
	}
	state, err := clockapi.ReadClock(ctx, *endpoint)
	if err != nil {
		return err
	}
	clients := deploy.NewClients(*endpoint, *region)
	s := scenario.Stack{Schedule: *stack + "-hourly", Function: *stack + "-check"}
	sched, err := scenario.ScheduleConfig(ctx, clients.Scheduler, s)
	if err != nil {
		return fmt.Errorf("%w (is stack %s deployed at %s?)", err, *stack, *endpoint)
	}
	inv, err := scenario.InvokeAsScheduler(ctx, clients.Lambda, sched, state.Now)
	if err != nil {
		return err
	}
	result, err := json.Marshal(inv.Result)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", result)
	return nil
}
