// Package demo is a quarter on a laptop: on an embedded cloud it creates
// 40 secrets of five services, each with a plan (rotated every 20 days,
// never, too rarely, failing, edited by hand, deleted, owned by RDS, not
// managed), deploys the stack, carries the plans out day by day while the
// cloud clock moves through the quarter with the hourly schedule firing,
// prints the evidence for the quarter (rotation-audit history) and hands
// the dashboard over to be served. The demo command parses its flags and
// calls Run.
//
// It imports the embedded cloud and its scenario cycle (for the stack's
// deployment and teardown), the clock's admin API, the read side's report
// and dashboard, and the Secrets Manager client through a tiny interface.
package demo

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/dashboard"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cycle"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// Lead is how many days before the quarter the demo secrets exist.
const Lead = 60

// Config is one demo.
type Config struct {
	Job      *cycle.Job // the stack; its Out receives the demo's report
	Quarter  string     // as the user named it, such as 2026Q4
	From, To time.Time  // the quarter's bounds
	Days     int        // how many of its days to simulate
	// Stderr is where a failed teardown is reported; it does not fail the
	// demo, whose evidence is printed by then.
	Stderr io.Writer
	// Serve, if set, serves the dashboard once the evidence is printed,
	// until ctx ends; the stack is torn down after it returns.
	Serve func(ctx context.Context, srv *dashboard.Server) error
}

// Run starts an embedded cloud Lead days before the quarter, creates the
// plans' secrets and carries the plans out until the quarter starts, with
// no schedule yet; then deploys the stack and carries them out for the
// quarter's days with every hourly run firing; then prints the evidence.
// Whatever fails, it tears the stack down and stops the cloud.
func Run(ctx context.Context, cfg Config) error {
	j, out := cfg.Job, cfg.Job.Out
	start := time.Now()
	cloud, err := localcloud.Start(localcloud.Options{Region: j.Region, ClockStart: cfg.From.AddDate(0, 0, -Lead)})
	if err != nil {
		return err
	}
	defer cloud.Close()
	d := j.Deployer(cloud.URL, nil)
	clients := d.Clients
	defer func() {
		summary, err := cycle.Teardown(context.WithoutCancel(ctx), d, j.Template, out)
		fmt.Fprintln(out, "demo: teardown:", summary)
		if err != nil {
			fmt.Fprintln(cfg.Stderr, "localcloud: teardown:", err)
		}
	}()

	s := &sim{
		sm: clients.SecretsManager, owners: cloud.Secrets(), plans: plans(),
		moveClock: func(ctx context.Context, m clockapi.ClockMove) (clockapi.ClockMoved, error) {
			return clockapi.MoveClock(ctx, cloud.URL, m)
		},
	}
	fmt.Fprintf(out, "demo: %d secrets from %s, %d days before %s\n", len(s.plans), date(cfg.From.AddDate(0, 0, -Lead)), Lead, cfg.Quarter)
	if err := s.create(ctx); err != nil {
		return err
	}
	for day := -Lead; day < 0; day++ {
		if err := s.live(ctx, day, false); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "demo: deploy stack %s on %s\n", j.Stack, date(cfg.From))
	stack, err := d.Deploy(ctx, j.Template)
	if err != nil {
		return err
	}
	sched, err := stackSchedule(ctx, clients.Scheduler, stack.Outputs)
	if err != nil {
		return err
	}
	for day := 0; day < cfg.Days; day++ {
		if err := s.live(ctx, day, true); err != nil {
			return err
		}
		if (day+1)%15 == 0 || day == cfg.Days-1 {
			fmt.Fprintf(out, "demo: %s, day %d of %d: %d runs so far (%s)\n", date(cfg.From.AddDate(0, 0, day+1)), day+1, cfg.Days, s.fired, cycle.Round(time.Since(start)))
		}
	}
	fmt.Fprintf(out, "demo: the quarter took %s of real time (%d scheduled runs, %d failed)\n\n", cycle.Round(time.Since(start)), s.fired, s.failed)

	store := &report.Store{DB: clients.DynamoDB, Table: stack.Outputs["TableName"], RunsTable: stack.Outputs["RunsTableName"]}
	now := cloud.Scheduler().Clock().Now
	h, err := report.BuildHistory(ctx, store, j.Stack, cfg.From, cfg.To, now(), sched)
	if err != nil {
		return err
	}
	if err := report.WriteHistory(out, h, report.Table); err != nil {
		return err
	}
	if cfg.Serve == nil {
		return nil
	}
	return cfg.Serve(ctx, &dashboard.Server{Store: store, Stack: j.Stack, Schedule: sched, Now: now})
}

// stackSchedule is the deployed schedule's expression, time zone and
// creation date (the control's start).
func stackSchedule(ctx context.Context, sc scenario.ScheduleGetter, outputs map[string]string) (report.Schedule, error) {
	s, err := scenario.FromOutputs(outputs)
	if err != nil {
		return report.Schedule{}, err
	}
	out, err := scenario.ScheduleConfig(ctx, sc, s)
	if err != nil {
		return report.Schedule{}, err
	}
	return report.Schedule{Expression: aws.ToString(out.ScheduleExpression), Timezone: aws.ToString(out.ScheduleExpressionTimezone),
		CreationDate: aws.ToTime(out.CreationDate).UTC()}, nil
}

func date(t time.Time) string { return t.UTC().Format(time.DateOnly) }
