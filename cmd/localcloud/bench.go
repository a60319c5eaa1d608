package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/schedule"
)

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	runs := fs.Int("runs", 10, "how many cycles")
	advance := fs.String("advance", "92d", "then time one move of the cloud clock this far with the stack deployed (a quarter of hourly runs); empty to skip")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: localcloud bench [flags]\n\nRun the full cycle several times in this process and print min/median/max per phase,\nthe function's cold start (process start to first answer), and the time to move the\ncloud clock a quarter ahead with the hourly schedule firing all the way.")
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("-runs must be at least 1: %w", errUsage)
	}
	var span time.Duration
	if *advance != "" {
		d, err := schedule.ParseDuration(*advance)
		if err != nil {
			return fmt.Errorf("-advance: %w: %w", err, errUsage)
		}
		span = d
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
		{"D", func(p phases) time.Duration { return p.d }},
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
	if span == 0 {
		return nil
	}
	fmt.Fprintf(stdout, "\nvirtual time: deploy, then move the cloud clock %s ahead\n", *advance)
	moved, err := c.advance(ctx, span)
	if err != nil {
		return err
	}
	took := time.Duration(moved.TookMS) * time.Millisecond
	fmt.Fprintf(stdout, "advanced %s: %d fires (%d failed) in %s, %.0f fires/s, %.1f ms per run; target under 20 s for 92 days\n",
		*advance, moved.Fired, moved.Failed, round(took), float64(moved.Fired)/took.Seconds(), float64(took.Milliseconds())/float64(max(moved.Fired, 1)))
	return nil
}

// advance deploys the stack on a fresh cloud, moves its clock span ahead
// with every fire running, and tears down.
func (c *cycle) advance(ctx context.Context, span time.Duration) (moved clockapi.ClockMoved, err error) {
	cloud, err := localcloud.Start(localcloud.Options{Region: c.flags.region})
	if err != nil {
		return moved, err
	}
	defer cloud.Close()
	d := &deploy.Deployer{
		Clients: deploy.NewClients(cloud.URL, c.flags.region), Stack: c.flags.stack, Params: c.flags.params,
		Code: c.builder.Code(true), Embedded: true,
	}
	defer func() {
		_, terr := teardown(context.WithoutCancel(ctx), d, c.tmpl, io.Discard)
		err = errors.Join(err, terr)
	}()
	if _, err := d.Deploy(ctx, c.tmpl); err != nil {
		return moved, err
	}
	return clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: span.String()})
}
