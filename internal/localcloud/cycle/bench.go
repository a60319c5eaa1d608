package cycle

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
)

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
	d := j.deployer(cloud.URL, nil)
	defer func() {
		_, terr := Teardown(context.WithoutCancel(ctx), d, j.Template, io.Discard)
		err = errors.Join(err, terr)
	}()
	if _, err := d.Deploy(ctx, j.Template); err != nil {
		return moved, err
	}
	return clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: span.String()})
}
