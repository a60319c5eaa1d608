package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
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
	return c.job().BenchLatency(ctx, stdout, stderr, ns, *edited, *latency)
}
