package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// Errors quote the flags as given, and -to alone moves the default span
// back instead of complaining about a -from the user never gave.
func TestPeriodFlags(t *testing.T) {
	is := is.New(t)
	now := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	week := func(end time.Time) time.Time { return end.AddDate(0, 0, -7) }
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }

	p := periodFlags{from: "2026-10-10", to: "2026-10-01"}
	_, _, err := p.period(now, week)
	is.True(errors.Is(err, errUsage))
	is.Equal(err.Error(), "-from 2026-10-10 is not before -to 2026-10-01: usage") // not -to 2026-10-02

	p = periodFlags{to: "2026-09-01"} // runs -to 2026-09-01
	from, to, err := p.period(now, week)
	is.NoErr(err)
	is.Equal(from, day(8, 26)) // the week up to the 1st, included
	is.Equal(to, day(9, 2))

	from, to, err = p.period(quarterEnd(now), quarterStart) // history -to 2026-09-01
	is.NoErr(err)
	is.Equal(from, day(7, 1))
	is.Equal(to, day(9, 2))

	p = periodFlags{from: "2026-12-05"}
	_, _, err = p.period(now, week)
	is.Equal(err.Error(), "-from 2026-12-05 is not before the end of the period, 2026-11-30T04:00:00Z: give -to too: usage")

	p = periodFlags{}
	from, to, err = p.period(quarterEnd(now), quarterStart) // history's default: this quarter
	is.NoErr(err)
	is.Equal(from, day(10, 1))
	is.Equal(to, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
}

// The schedule's creation date and flexible window come from GetSchedule;
// a missing creation date stays zero.
func TestScheduleFrom(t *testing.T) {
	is := is.New(t)
	created := time.Date(2026, 9, 29, 0, 0, 2, 0, time.UTC)
	got := scheduleFrom(&scheduler.GetScheduleOutput{ScheduleExpression: aws.String("rate(1 hour)"), ScheduleExpressionTimezone: aws.String("UTC"),
		CreationDate:       aws.Time(created),
		FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeFlexible, MaximumWindowInMinutes: aws.Int32(15)}}, time.Minute)
	is.Equal(got, report.Schedule{Expression: "rate(1 hour)", Timezone: "UTC", CreationDate: created, FlexibleWindow: 15 * time.Minute, Timeout: time.Minute})
	is.Equal(got.Grace(), 16*time.Minute)
	got = scheduleFrom(&scheduler.GetScheduleOutput{ScheduleExpression: aws.String("rate(1 hour)"),
		FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff}}, report.DefaultTimeout)
	is.True(got.CreationDate.IsZero())
	is.Equal(got.FlexibleWindow, time.Duration(0))
}

// A quarter that has not started is a mistake to fix, said in one line.
func TestHistoryOfAQuarterNotStarted(t *testing.T) {
	is := is.New(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"history", "-quarter", "2999Q1", "-endpoint-url", "http://127.0.0.1:1"}, &stdout, &stderr)
	is.True(errors.Is(err, errUsage))
	is.True(strings.HasPrefix(err.Error(), "quarter 2999Q1 has not started: it starts at 2999-01-01T00:00:00Z, and it is "))
	is.Equal(stdout.String(), "") // nothing half-written
}

// The acceptance, on the embedded cloud from 29 September: hourly
// runs, the schedule disabled at 30 September 20:00 for four days, then
// enabled, then three days more. The quarter's history shows the gap at
// its start, at the times the runs were due, and never says the control
// ran every time; so does the variant disabled right after the deploy,
// with no run before the outage. (On main both said "gaps: none".)
func TestHistoryShowsAnOutageAtTheStartOfTheQuarter(t *testing.T) {
	for _, tt := range []struct {
		stack  string
		before string // how long the schedule runs before it is disabled
	}{
		{"outage", "44h"},
		{"dormant", ""},
	} {
		t.Run(tt.stack, func(t *testing.T) {
			is := is.New(t)
			ctx := context.Background()
			url, sched := deployAt(t, tt.stack, time.Date(2026, 9, 29, 0, 0, 0, 0, time.UTC))
			advance := func(d string) {
				_, err := clockapi.MoveClock(ctx, url, clockapi.ClockMove{Advance: d})
				is.NoErr(err)
			}
			if tt.before != "" {
				advance(tt.before)
			}
			is.NoErr(setState(ctx, sched, tt.stack+"-hourly", schtypes.ScheduleStateDisabled))
			advance("4d")
			if tt.before == "" {
				advance("44h")
			}
			is.NoErr(setState(ctx, sched, tt.stack+"-hourly", schtypes.ScheduleStateEnabled))
			advance("3d")

			out := func(args ...string) string {
				var stdout, stderr bytes.Buffer
				err := run(ctx, append(args, "-endpoint-url", url, "-stack", tt.stack), &stdout, &stderr)
				is.NoErr(err)
				return stdout.String()
			}
			var h struct {
				Start string       `json:"control_start"`
				Gaps  []report.Gap `json:"gaps"`
			}
			is.NoErr(json.Unmarshal([]byte(out("history", "-quarter", "2026Q4", "-format", "json")), &h))
			is.True(strings.HasPrefix(h.Start, "2026-09-29T00:00")) // the schedule's creation, on cloud time
			is.Equal(len(h.Gaps), 1)
			g := h.Gaps[0]
			is.True(strings.HasPrefix(g.From.Format(time.RFC3339), "2026-10-01T00:00")) // due at the start of the quarter
			is.True(strings.HasPrefix(g.To.Format(time.RFC3339), "2026-10-04T20:00"))   // until the schedule was enabled
			is.True(g.Missing >= 92 && g.Missing <= 93)
			table := out("history", "-quarter", "2026Q4")
			is.True(strings.Contains(table, "missing, due from 2026-10-01T00:00"))
			is.True(!strings.Contains(table, "ran every time"))

			var stdout, stderr bytes.Buffer
			err := run(ctx, []string{"history", "-quarter", "2027Q1", "-endpoint-url", url, "-stack", tt.stack}, &stdout, &stderr)
			is.True(errors.Is(err, errUsage)) // the cloud's clock is in October: 2027Q1 has not started
			is.True(strings.Contains(err.Error(), "quarter 2027Q1 has not started"))
		})
	}
}

// setState disables or enables a schedule, keeping the rest of its
// definition, as aws scheduler update-schedule would.
func setState(ctx context.Context, c *scheduler.Client, name string, state schtypes.ScheduleState) error {
	s, err := c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name)})
	if err != nil {
		return err
	}
	_, err = c.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{Name: s.Name, ScheduleExpression: s.ScheduleExpression,
		ScheduleExpressionTimezone: s.ScheduleExpressionTimezone, FlexibleTimeWindow: s.FlexibleTimeWindow, Target: s.Target,
		Description: s.Description, State: state})
	return err
}

// deployAt deploys template.yaml as stack on an embedded cloud of its own
// whose clock starts at start, and returns its URL and a Scheduler client.
func deployAt(t *testing.T, stack string, start time.Time) (string, *scheduler.Client) {
	url, clients := deployWith(t, stack, start, nil)
	return url, clients.Scheduler
}

// deployWith deploys template.yaml as stack with params on an embedded
// cloud of its own whose clock starts at start, tears it down at the end
// of the test, and returns the cloud's URL and clients.
func deployWith(t *testing.T, stack string, start time.Time, params map[string]string) (string, *deploy.Clients) {
	t.Helper()
	cloud, err := localcloud.Start(localcloud.Options{ClockStart: start})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloud.Close() })
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := cfn.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	root, err := bootstrap.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	clients := deploy.NewClients(cloud.URL, localcloud.DefaultRegion)
	d := &deploy.Deployer{Clients: clients, Stack: stack, Code: b.Code(true), Embedded: true, Params: params}
	t.Cleanup(func() {
		if _, err := d.Teardown(context.Background(), tmpl); err != nil {
			t.Error(err)
		}
	})
	if _, err := d.Deploy(context.Background(), tmpl); err != nil {
		t.Fatal(err)
	}
	return cloud.URL, clients
}
