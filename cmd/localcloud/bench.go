package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
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
	return job.Bench(ctx, stdout, *runs, *advance, span)
}
