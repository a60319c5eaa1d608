package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cycle"
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
	job := c.job()
	job.Cold = true
	fmt.Fprintf(stdout, "building the function once, before timing\n")
	if _, err := c.builder.Zip(ctx, runtime.GOOS, runtime.GOARCH); err != nil {
		return err
	}
	var all []cycle.Phases
	for i := range *runs {
		p, err := job.Run(ctx)
		if err != nil {
			return fmt.Errorf("cycle %d: %w", i+1, err)
		}
		all = append(all, p)
		fmt.Fprintf(stdout, "cycle %2d: total %s\n", i+1, round(p.Total()))
	}
	fmt.Fprintf(stdout, "\n%-10s %10s %10s %10s   (%d cycles)\n", "phase", "min", "median", "max", *runs)
	for _, r := range cycle.Spreads(all) {
		fmt.Fprintf(stdout, "%-10s %10s %10s %10s\n", r.Phase, round(r.Min), round(r.Median), round(r.Max))
	}
	fmt.Fprintf(stdout, "targets on a 2-core machine: median total under 1s, cold start under 50ms; the LocalEmu tutorial takes about %d s\n", cycle.TutorialSeconds)
	if span == 0 {
		return nil
	}
	fmt.Fprintf(stdout, "\nvirtual time: deploy, then move the cloud clock %s ahead\n", *advance)
	moved, err := job.Advance(ctx, span)
	if err != nil {
		return err
	}
	took := time.Duration(moved.TookMS) * time.Millisecond
	fmt.Fprintf(stdout, "advanced %s: %d fires (%d failed) in %s, %.0f fires/s, %.1f ms per run; target under 20 s for 92 days\n",
		*advance, moved.Fired, moved.Failed, round(took), float64(moved.Fired)/took.Seconds(), float64(took.Milliseconds())/float64(max(moved.Fired, 1)))
	return nil
}
