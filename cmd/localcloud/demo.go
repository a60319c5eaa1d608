package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/dashboard"
	"github.com/rotation-audit/rotation-audit/internal/deploy"
	"github.com/rotation-audit/rotation-audit/internal/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/scenario"
)

// plan is what happens to one demo secret over the quarter.
type plan struct {
	name    string
	managed bool
	// every rotates the secret every so many days (0: never), from the
	// day offset; rules also turns on automatic rotation with that interval.
	every, offset int
	rules         bool
	// stopDay is when its rotation starts failing (0: never).
	stopDay int
	// readEvery reads its value every so many days (0: never read).
	readEvery int
	// tagDay edits a tag on that day; deleteDay deletes it.
	tagDay, deleteDay int
	owner             string // a service that owns it, such as rds
}

// demoLead is how many days before the quarter the demo secrets exist.
const demoLead = 60

// demoPlans is a realistic population: 40 secrets of five services, most
// rotated every 20 days, some never, one rotated too rarely, one whose
// rotation starts failing, one edited by hand, one deleted mid-quarter, one
// owned by RDS, one not managed.
func demoPlans() []plan {
	var plans []plan
	for i, svc := range []string{"payments", "orders", "search", "auth", "billing"} {
		plans = append(plans,
			plan{name: svc + "-db-password", managed: true, every: 20, offset: 3 * i, rules: true, readEvery: 1},
			plan{name: svc + "-api-key", managed: true, every: 20, offset: 3*i + 7, rules: true, readEvery: 7},
			plan{name: svc + "-signing-key", managed: true, every: 20, offset: 3*i + 11},
			plan{name: svc + "-webhook-token", managed: true, every: 45, offset: 5 * i, readEvery: 3},
			plan{name: svc + "-partner-token", managed: true, readEvery: 30},
			plan{name: svc + "-ci-token", managed: true, every: 20, offset: 2 * i, readEvery: 2},
			plan{name: svc + "-legacy-password", managed: true},
		)
	}
	return append(plans,
		plan{name: "orders-queue-credentials", managed: true, every: 7, offset: 1, rules: true, stopDay: 30, readEvery: 1},
		plan{name: "payments-hsm-pin", managed: true, tagDay: 40, readEvery: 14},
		plan{name: "search-old-index-key", managed: true, deleteDay: 45},
		plan{name: "reports-cluster-master", managed: true, owner: "rds", every: 7, offset: 2, rules: true, readEvery: 1},
		plan{name: "sandbox-experiment", managed: false},
	)
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var sf stackFlags
	sf.register(fs)
	quarter := fs.String("quarter", "2026Q4", "the quarter to simulate")
	only := fs.Int("days", 0, "simulate only the quarter's first `N` days (0: all of it)")
	addr := fs.String("addr", "127.0.0.1:8080", "where the dashboard listens afterwards")
	serve := fs.Bool("serve", os.Getenv("DEMO_SERVE") != "0", "serve the dashboard until Ctrl-C afterwards (env DEMO_SERVE=0 to stop after printing)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: localcloud demo [flags]

A quarter on a laptop: deploy the stack on the embedded cloud, add 40 secrets of five
services with a plan each (rotated every 20 days, never, too rarely, failing, edited,
deleted, owned by RDS, not managed), move the cloud clock through the quarter with the
hourly schedule firing and the plans carried out day by day, print the evidence for
the quarter (rotation-audit history), then serve the dashboard until Ctrl-C.`)
		fs.PrintDefaults()
	}
	if err := cmdline.Parse(fs, args, stderr); err != nil {
		return err
	}
	from, to, err := report.Quarter(*quarter)
	if err != nil {
		return fmt.Errorf("-quarter: %w: %w", err, errUsage)
	}
	days := int(to.Sub(from) / (24 * time.Hour))
	switch {
	case *only < 0 || *only > days:
		return fmt.Errorf("-days: %d is not between 0 and the quarter's %d days: %w", *only, days, errUsage)
	case *only > 0:
		days = *only
	}
	sf.params.setDefault("SeedTestSecrets", "false") // the demo's 40 secrets are the population
	c, err := newCycle(sf, stdout)
	if err != nil {
		return err
	}
	start := time.Now()
	logs := linewriter.Prefixed(io.Discard, "")
	cloud, err := localcloud.Start(localcloud.Options{Region: sf.region, ClockStart: from.AddDate(0, 0, -demoLead), Logs: logs})
	if err != nil {
		return err
	}
	defer cloud.Close()
	clients := deploy.NewClients(cloud.URL, sf.region)
	d := &deploy.Deployer{Clients: clients, Stack: sf.stack, Params: sf.params, Code: c.builder.Code(true), Embedded: true}
	defer func() {
		summary, err := teardown(context.WithoutCancel(ctx), d, c.tmpl, stdout)
		fmt.Fprintln(stdout, "demo: teardown:", summary)
		if err != nil {
			fmt.Fprintln(stderr, "localcloud: teardown:", err)
		}
	}()

	demo := &demo{cloud: cloud, sm: clients.SecretsManager, plans: demoPlans(), out: stdout}
	fmt.Fprintf(stdout, "demo: %d secrets from %s, %d days before %s\n", len(demo.plans), date(from.AddDate(0, 0, -demoLead)), demoLead, *quarter)
	if err := demo.create(ctx); err != nil {
		return err
	}
	for day := -demoLead; day < 0; day++ {
		if err := demo.live(ctx, day, "skip"); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "demo: deploy stack %s on %s\n", sf.stack, date(from))
	stack, err := d.Deploy(ctx, c.tmpl)
	if err != nil {
		return err
	}
	sched, err := stackSchedule(ctx, clients, stack.Outputs)
	if err != nil {
		return err
	}
	for day := 0; day < days; day++ {
		if err := demo.live(ctx, day, "fire"); err != nil {
			return err
		}
		if (day+1)%15 == 0 || day == days-1 {
			fmt.Fprintf(stdout, "demo: %s, day %d of %d: %d runs so far (%s)\n", date(from.AddDate(0, 0, day+1)), day+1, days, demo.fired, round(time.Since(start)))
		}
	}
	fmt.Fprintf(stdout, "demo: the quarter took %s of real time (%d scheduled runs, %d failed)\n\n", round(time.Since(start)), demo.fired, demo.failed)

	store := &report.Store{DB: clients.DynamoDB, Table: stack.Outputs["TableName"], RunsTable: stack.Outputs["RunsTableName"]}
	now := cloud.Scheduler().Clock().Now()
	h, err := report.BuildHistory(ctx, store, sf.stack, from, to, now, sched)
	if err != nil {
		return err
	}
	if err := report.WriteHistory(stdout, h, report.Table); err != nil {
		return err
	}
	if !*serve {
		return nil
	}
	srv := &dashboard.Server{Store: store, Stack: sf.stack, Schedule: sched, Now: cloud.Scheduler().Clock().Now}
	return serveDashboard(ctx, srv, *addr, report.QuarterOf(from), stdout)
}

// demo carries out the plans on an embedded cloud.
type demo struct {
	cloud  *localcloud.Cloud
	sm     *secretsmanager.Client
	plans  []plan
	out    io.Writer
	fired  int
	failed int
}

// create creates every secret of the plans, tagged as planned.
func (d *demo) create(ctx context.Context) error {
	for _, p := range d.plans {
		managed := "true"
		if !p.managed {
			managed = "false"
		}
		if _, err := d.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(p.name), SecretString: aws.String("initial value of " + p.name),
			Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String(managed)}, {Key: aws.String("Service"), Value: aws.String(service(p.name))}},
		}); err != nil {
			return fmt.Errorf("create %s: %w", p.name, err)
		}
		if p.owner != "" {
			if err := d.cloud.Secrets().SetOwningService(p.name, p.owner); err != nil {
				return err
			}
		}
	}
	return nil
}

// live carries out one day of the plans, then moves the clock a day on:
// firing every hourly run of it, or, before the stack exists, skipping.
func (d *demo) live(ctx context.Context, day int, move string) error {
	for _, p := range d.plans {
		if err := d.act(ctx, p, day); err != nil {
			return fmt.Errorf("day %d, %s: %w", day, p.name, err)
		}
	}
	moved, err := clockapi.MoveClock(ctx, d.cloud.URL, clockapi.ClockMove{Advance: "24h", SkipFires: move == "skip"})
	if err != nil {
		return err
	}
	d.fired += moved.Fired
	d.failed += moved.Failed
	return nil
}

// act does what a plan says for one day.
func (d *demo) act(ctx context.Context, p plan, day int) error {
	if p.deleteDay != 0 && day > p.deleteDay {
		return nil
	}
	switch {
	case p.deleteDay != 0 && day == p.deleteDay:
		_, err := d.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(p.name), ForceDeleteWithoutRecovery: aws.Bool(true)})
		return err
	case p.tagDay != 0 && day == p.tagDay:
		if _, err := d.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(p.name),
			Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String("platform-team")}}}); err != nil {
			return err
		}
	}
	if p.every > 0 && (day-p.offset)%p.every == 0 && (p.stopDay == 0 || day < p.stopDay) {
		in := &secretsmanager.RotateSecretInput{SecretId: aws.String(p.name)}
		if p.rules {
			in.RotationRules = &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(p.every))}
		}
		if _, err := d.sm.RotateSecret(ctx, in); err != nil {
			return err
		}
	}
	if p.readEvery > 0 && day%p.readEvery == 0 {
		if _, err := d.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.name)}); err != nil {
			return err
		}
	}
	return nil
}

// service is the service a demo secret belongs to: its name's first word.
func service(name string) string {
	for i, r := range name {
		if r == '-' || r == '!' {
			return name[:i]
		}
	}
	return name
}

// stackSchedule is the deployed schedule's expression, time zone and
// creation date (the control's start).
func stackSchedule(ctx context.Context, clients *deploy.Clients, outputs map[string]string) (report.Schedule, error) {
	s, err := scenario.FromOutputs(outputs)
	if err != nil {
		return report.Schedule{}, err
	}
	out, err := scenario.ScheduleConfig(ctx, clients.Scheduler, s)
	if err != nil {
		return report.Schedule{}, err
	}
	return report.Schedule{Expression: aws.ToString(out.ScheduleExpression), Timezone: aws.ToString(out.ScheduleExpressionTimezone),
		CreationDate: aws.ToTime(out.CreationDate).UTC()}, nil
}

func date(t time.Time) string { return t.UTC().Format(time.DateOnly) }
