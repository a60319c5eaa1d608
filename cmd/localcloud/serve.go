package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/localcloud"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", envOr("LOCALCLOUD_ADDR", localcloud.DefaultAddr), "listen address (env LOCALCLOUD_ADDR)")
	speed := fs.Float64("clock-speed", 1, "scheduler clock speed: 3600 makes rate(1 hour) fire every second")
	region := fs.String("region", localcloud.DefaultRegion, "AWS region")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud serve [flags]\n\nServe the embedded cloud until Ctrl-C: any SDK or `aws --endpoint-url` works against it,\ndeployed functions run as local processes and schedules fire.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	cloud, err := startServing(*addr, *region, *speed, stdout)
	if err != nil {
		return err
	}
	defer cloud.Close()
	fmt.Fprintf(stdout, "Serving at %s (clock speed %gx). Deploy with:  make deploy-local ENDPOINT=%s\nCtrl-C stops it.\n", cloud.URL, *speed, cloud.URL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	addr := fs.String("addr", envOr("LOCALCLOUD_ADDR", localcloud.DefaultAddr), "listen address (env LOCALCLOUD_ADDR)")
	speed := fs.Float64("clock-speed", 1, "scheduler clock speed: 3600 makes rate(1 hour) fire every second")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud up [flags]\n\nServe the embedded cloud with the stack deployed and the scheduler clock running, until Ctrl-C;\nthen tear the stack down.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	c, err := newCycle(sf, stdout)
	if err != nil {
		return err
	}
	cloud, err := startServing(*addr, sf.region, *speed, stdout)
	if err != nil {
		return err
	}
	defer cloud.Close()
	d := &localcloud.Deployer{Clients: cloud.Clients(), Stack: sf.stack, Params: sf.params, Code: c.builder.Code(true), Logs: indent(stdout, "  ")}
	defer func() {
		fmt.Fprintln(stdout, "tearing down")
		clean, err := teardown(context.WithoutCancel(ctx), d, c.tmpl, stdout)
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
	fmt.Fprintf(stdout, "deployed in %s\n", round(time.Since(t)))
	printOutputs(stdout, stack.Outputs)
	fmt.Fprintf(stdout, `
The stack is up at %[1]s. Try (any credentials and region do; without a profile set
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=%[2]s):

  aws --endpoint-url %[1]s scheduler get-schedule --name %[3]s
  aws --endpoint-url %[1]s lambda invoke --function-name %[4]s --payload '{}' out.json && cat out.json
  aws --endpoint-url %[1]s dynamodb scan --table-name %[5]s

(AWS CLI v2 also needs --cli-binary-format raw-in-base64-out for --payload.)
The scheduler clock runs at %[6]gx: %[7]s
Ctrl-C tears the stack down and stops.
`, cloud.URL, sf.region, stack.Outputs["ScheduleName"], stack.Outputs["FunctionName"], stack.Outputs["TableName"], *speed, speedHint(*speed))
	<-ctx.Done()
	return nil
}

// speedHint says what the clock speed means for the hourly schedule.
func speedHint(speed float64) string {
	if speed <= 1 {
		return "real time, so rate(1 hour) first fires an hour from now (use -clock-speed 3600 to watch it every second)."
	}
	return fmt.Sprintf("rate(1 hour) fires every %s.", round(time.Duration(float64(time.Hour)/speed)))
}

// startServing starts the embedded cloud on addr with its logs on out.
func startServing(addr, region string, speed float64, out io.Writer) (*localcloud.Cloud, error) {
	t := time.Now()
	cloud, err := localcloud.Start(localcloud.Options{Addr: addr, Region: region, ClockSpeed: speed, Logs: out})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "embedded cloud (kumo, in-process) ready at %s in %s\n", cloud.URL, round(time.Since(t)))
	return cloud, nil
}

// endpointDeployer reads the flags of deploy and teardown and returns a
// deployer for the endpoint they name.
func endpointDeployer(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (*localcloud.Deployer, *localcloud.Template, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	endpoint := fs.String("endpoint", envOr("ENDPOINT", "http://localhost:4566"), "the endpoint: this tool's serve/up, LocalEmu, LocalStack or moto (env ENDPOINT)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: localcloud %s [flags]\n\n", name)
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return nil, nil, err
	}
	c, err := newCycle(sf, stdout)
	if err != nil {
		return nil, nil, err
	}
	info, embedded := localcloud.Probe(ctx, *endpoint)
	kind := "an external endpoint: the function is the linux build for the template's architecture"
	if embedded {
		kind = fmt.Sprintf("the embedded cloud: the function is built for %s/%s and runs there as a process", info.GOOS, info.GOARCH)
	}
	fmt.Fprintf(stdout, "%s: stack %s at %s (%s)\n", name, sf.stack, *endpoint, kind)
	d := &localcloud.Deployer{
		Clients: localcloud.NewClients(*endpoint, sf.region), Stack: sf.stack, Params: sf.params,
		Code: c.builder.Code(embedded), Logs: indent(stdout, "  "),
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
	fmt.Fprintf(stdout, "deployed: %d created, %d updated in %s\n", stack.Created, stack.Updated, round(time.Since(t)))
	printOutputs(stdout, stack.Outputs)
	return nil
}

func cmdTeardown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d, tmpl, err := endpointDeployer(ctx, "teardown", args, stdout, stderr)
	if err != nil {
		return err
	}
	t := time.Now()
	clean, err := teardown(ctx, d, tmpl, stdout)
	fmt.Fprintf(stdout, "%s (%s)\n", clean, round(time.Since(t)))
	return err
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	runs := fs.Int("runs", 10, "how many cycles")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud bench [flags]\n\nRun the full cycle several times in this process and print min/median/max per phase,\nand the function's cold start (process start to first answer).")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("-runs must be at least 1: %w", errUsage)
	}
	c, err := newCycle(sf, io.Discard)
	if err != nil {
		return err
	}
	c.cold = true
	fmt.Fprintf(stdout, "building the function once, before timing\n")
	if _, err := c.builder.Zip(ctx, runtime.GOOS, runtime.GOARCH); err != nil {
		return err
	}
	var all []phases
	for i := range *runs {
		p, err := c.run(ctx)
		if err != nil {
			return fmt.Errorf("cycle %d: %w", i+1, err)
		}
		all = append(all, p)
		fmt.Fprintf(stdout, "cycle %2d: total %s\n", i+1, round(p.total()))
	}
	fmt.Fprintf(stdout, "\n%-10s %10s %10s %10s   (%d cycles)\n", "phase", "min", "median", "max", *runs)
	for _, row := range []struct {
		name string
		get  func(phases) time.Duration
	}{
		{"start", func(p phases) time.Duration { return p.start }},
		{"deploy", func(p phases) time.Duration { return p.deploy }},
		{"A", func(p phases) time.Duration { return p.a }},
		{"B", func(p phases) time.Duration { return p.b }},
		{"C", func(p phases) time.Duration { return p.c }},
		{"teardown", func(p phases) time.Duration { return p.teardown }},
		{"total", phases.total},
		{"cold start", func(p phases) time.Duration { return p.cold }},
	} {
		var ds []time.Duration
		for _, p := range all {
			ds = append(ds, row.get(p))
		}
		slices.Sort(ds)
		fmt.Fprintf(stdout, "%-10s %10s %10s %10s\n", row.name, round(ds[0]), round(ds[len(ds)/2]), round(ds[len(ds)-1]))
	}
	fmt.Fprintf(stdout, "targets on a 2-core machine: median total under 1s, cold start under 50ms; the LocalEmu tutorial takes about %d s\n", tutorialSeconds)
	return nil
}
