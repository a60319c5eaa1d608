package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cycle"
)

func cmdBenchLatency(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-latency", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	latency := fs.Duration("latency", 20*time.Millisecond, "added to every AWS call the function makes")
	sizes := fs.String("secrets", "1000,10000", "the populations to time, comma-separated")
	edited := fs.Int("edited", 10, "the percentage of secrets whose tags are edited after 60 days (each needs a ListSecretVersionIds)")
	module := fs.String("module", ".", "the module whose rotation-check is timed (another checkout, to compare)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: localcloud bench-latency [flags]

Time one run of the real function at AWS-like latency: a proxy adds a fixed latency to
every AWS call the function makes on its way to the embedded cloud. For each population
it prints the run's time, the paging floor (ListSecrets pages must follow one another:
pages x latency), their ratio, the calls made, and the function process's peak memory.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-secrets: %q is not a positive number: %w", s, errUsage)
		}
		ns = append(ns, n)
	}
	if *edited < 0 || *edited > 100 {
		return fmt.Errorf("-edited: %d is not a percentage: %w", *edited, errUsage)
	}
	root, err := bootstrap.ModuleRoot(*module)
	if err != nil {
		return fmt.Errorf("-module: %w: %w", err, errUsage)
	}
	sf.params.setDefault("SeedTestSecrets", "false")
	c, err := newCycle(sf, io.Discard)
	if err != nil {
		return err
	}
	c.builder = &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	job := c.job()
	fmt.Fprintf(stdout, "rotation-check from %s, %s added to every AWS call, %d%% of the secrets edited\n", root, *latency, *edited)
	var rows []string
	for _, n := range ns {
		fmt.Fprintf(stderr, "%d secrets: creating them, deploying, one scheduled run...\n", n)
		r, err := job.AtLatency(ctx, n, *edited, *latency)
		if err != nil {
			return fmt.Errorf("%d secrets: %w", n, err)
		}
		floor := cycle.Floor(n, *latency)
		rows = append(rows, fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f MB\t", n, round(r.Took), round(floor), ratio(r.Took, floor),
			r.Calls[cycle.OpListSecrets], r.Calls[cycle.OpBatchWrite], r.Calls[cycle.OpListVersions], r.Other(), float64(r.PeakKB)/1024))
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "secrets\trun\tfloor\trun/floor\tListSecrets\tBatchWriteItem\tListSecretVersionIds\tother calls\tpeak RSS\t")
	for _, row := range rows {
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// ratio is run/floor, or "-" when there is no floor (no added latency).
func ratio(run, floor time.Duration) string {
	if floor == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(run)/float64(floor))
}
