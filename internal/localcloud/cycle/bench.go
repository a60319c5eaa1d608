package cycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
)

// Bench is the bench command: it builds the function once, times runs
// cycles (their reports discarded) and prints min/median/max per phase on
// out, then, unless span is 0, times one move of the cloud clock span
// ahead (advance is span as the user wrote it, such as 92d).
func (j *Job) Bench(ctx context.Context, out io.Writer, runs int, advance string, span time.Duration) error {
	fmt.Fprintf(out, "building the function once, before timing\n")
	if _, err := j.Builder.Zip(ctx, runtime.GOOS, runtime.GOARCH); err != nil {
		return err
	}
	var all []Phases
	for i := range runs {
		p, err := j.Run(ctx)
		if err != nil {
			return fmt.Errorf("cycle %d: %w", i+1, err)
		}
		all = append(all, p)
		fmt.Fprintf(out, "cycle %2d: total %s\n", i+1, Round(p.Total()))
	}
	fmt.Fprintf(out, "\n%-10s %10s %10s %10s   (%d cycles)\n", "phase", "min", "median", "max", runs)
	for _, r := range Spreads(all) {
		fmt.Fprintf(out, "%-10s %10s %10s %10s\n", r.Phase, Round(r.Min), Round(r.Median), Round(r.Max))
	}
	fmt.Fprintf(out, "targets on a 2-core machine: median total under 1s, cold start under 50ms; the LocalEmu tutorial takes about %d s\n", TutorialSeconds)
	if span == 0 {
		return nil
	}
	fmt.Fprintf(out, "\nvirtual time: deploy, then move the cloud clock %s ahead\n", advance)
	moved, err := j.Advance(ctx, span)
	if err != nil {
		return err
	}
	took := time.Duration(moved.TookMS) * time.Millisecond
	fmt.Fprintf(out, "advanced %s: %d fires (%d failed) in %s, %.0f fires/s, %.1f ms per run; target under 20 s for 92 days\n",
		advance, moved.Fired, moved.Failed, Round(took), float64(moved.Fired)/took.Seconds(), float64(took.Milliseconds())/float64(max(moved.Fired, 1)))
	return nil
}

// Spread is one phase's shortest, median and longest time over several
// cycles.
type Spread struct {
	Phase            string
	Min, Median, Max time.Duration
}

// Spreads are the spreads of every phase, the total and the cold start
// over one or more cycles, in the order bench prints them.
func Spreads(all []Phases) []Spread {
	var out []Spread
	for _, row := range []struct {
		name string
		get  func(Phases) time.Duration
	}{
		{"start", func(p Phases) time.Duration { return p.Start }},
		{"deploy", func(p Phases) time.Duration { return p.Deploy }},
		{"A", func(p Phases) time.Duration { return p.A }},
		{"B", func(p Phases) time.Duration { return p.B }},
		{"C", func(p Phases) time.Duration { return p.C }},
		{"D", func(p Phases) time.Duration { return p.D }},
		{"teardown", func(p Phases) time.Duration { return p.Teardown }},
		{"total", Phases.Total},
		{"cold start", func(p Phases) time.Duration { return p.Cold }},
	} {
		var ds []time.Duration
		for _, p := range all {
			ds = append(ds, row.get(p))
		}
		slices.Sort(ds)
		out = append(out, Spread{Phase: row.name, Min: ds[0], Median: ds[len(ds)/2], Max: ds[len(ds)-1]})
	}
	return out
}

// Advance deploys the stack on a fresh cloud, moves its clock span ahead
// with every fire running, and tears down.
func (j *Job) Advance(ctx context.Context, span time.Duration) (moved clockapi.ClockMoved, err error) {
	cloud, err := localcloud.Start(localcloud.Options{Region: j.Region})
	if err != nil {
		return moved, err
	}
	defer cloud.Close()
	d := j.Deployer(cloud.URL, nil)
	defer func() {
		_, terr := Teardown(context.WithoutCancel(ctx), d, j.Template, io.Discard)
		err = errors.Join(err, terr)
	}()
	if _, err := d.Deploy(ctx, j.Template); err != nil {
		return moved, err
	}
	return clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: span.String()})
}
