package dashboard

import (
	"bytes"
	"context"
	"errors"
	"html"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/report"
)

// nameLink is a link whose text is a secret's name.
var nameLink = regexp.MustCompile(`<a href="([^"]*)">([^<]*)</a>`)

// nameLinks maps each linked name of an HTML fragment to its href, both as
// a browser reads them.
func nameLinks(fragment string) map[string]string {
	links := map[string]string{}
	for _, m := range nameLink.FindAllStringSubmatch(fragment, -1) {
		links[html.UnescapeString(m[2])] = html.UnescapeString(m[1])
	}
	return links
}

// secretHeading is the name a secret's page is about, as a browser reads it.
func secretHeading(body string) string {
	m := regexp.MustCompile(`<h1 class="secret-name">([^<]*) <span`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// Every hostile name is listed as text, and its link opens its own page.
func TestHostileNames(t *testing.T) {
	is := is.New(t)
	h := fixtureServer("odd", oddNow).Handler()
	w := get(h, "/")
	is.Equal(w.Code, 200)
	body := w.Body.String()
	is.True(!strings.Contains(body, "<script>")) // markup in a name is text

	needs, grid := nameLinks(section(body, "needs-rotation")), nameLinks(section(body, "grid"))
	is.Equal(slices.Sorted(maps.Keys(needs)), slices.Sorted(slices.Values(hostile))) // every name, flagged
	is.Equal(slices.Sorted(maps.Keys(grid)), slices.Sorted(slices.Values(hostile)))  // and in the grid
	for _, name := range hostile {
		is.Equal(grid[name], needs[name]) // the same page from both
		w := get(h, needs[name])
		is.Equal(w.Code, http.StatusOK)                // the link of `name` answers
		is.Equal(secretHeading(w.Body.String()), name) // with that secret's page
		is.True(!strings.Contains(w.Body.String(), "<script>"))
		for _, m := range nameLink.FindAllStringSubmatch(w.Body.String(), -1) {
			href := html.UnescapeString(m[1])
			if strings.HasPrefix(href, "/secret?") {
				is.Equal(get(h, href).Code, http.StatusOK) // the page's own links (quarters, the strip) answer
			}
		}
	}
}

// A flagged secret whose age is 30 whole days shows the hours that make
// it more than thirty days old.
func TestAgeInDaysAndHours(t *testing.T) {
	is := is.New(t)
	h := fixtureServer("odd", oddNow).Handler()
	needs := section(get(h, "/").Body.String(), "needs-rotation")
	is.True(strings.Contains(needs, `>/prod/db/password</a></td><td class="num">30 d 23 h</td>`)) // not "30 days"
	is.True(strings.Contains(needs, `>@x</a></td><td class="num">40 d 5 h</td>`))

	page := get(h, secretHref("/prod/db/password", "")).Body.String()
	is.True(strings.Contains(page, "<dd>30 d 23 h (threshold 30 days)</dd>"))
	is.True(strings.Contains(section(page, "rows"), `<td class="num">30 d 23 h</td>`))
}

func TestAgeText(t *testing.T) {
	days := func(n int) *int { return &n }
	tests := []struct {
		name  string
		age   *int
		basis string
		want  string
	}{
		{"a day short of 31", days(30), "2026-10-01T13:00:00Z", "30 d 23 h"},
		{"whole days", days(31), "2026-10-01T12:00:00Z", "31 d 0 h"},
		{"no basis date", days(1), "", "1 day"},
		{"dates that disagree with the age", days(5), "2026-10-01T12:00:00Z", "5 days"},
		{"not judged", nil, "", "—"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			r := row("x", time.Time{}, 0)
			r.AgeDays, r.BasisDate, r.CheckedAt = tt.age, tt.basis, "2026-11-01T12:00:00Z"
			is.Equal(ageText(r), tt.want)
		})
	}
}

// The secret's strip tells a day whose run did not list it from a day
// without a complete run, as the grid does.
func TestStripTellsNoRunFromNotSeen(t *testing.T) {
	is := is.New(t)
	page := get(fixtureServer("odd", oddNow).Handler(), secretHref("@x", "")).Body.String()
	strip := section(page, "strip")
	is.True(strings.Contains(strip, `<rect class="cell st-unseen" x="0"><title>2026-10-01: not seen (a run without this secret)</title>`))
	is.True(strings.Contains(strip, `<rect class="cell st-norun" x="10"><title>2026-10-02: no complete run</title>`))
	is.True(strings.Contains(strip, `<rect class="cell st-flagged" x="20"><title>2026-10-03: needs rotation</title>`))
	is.True(strings.Contains(strip, `<span class="swatch st-norun"></span> no complete run that day`)) // and the legend says so
}

// A run dated after now is never the latest run: the dashboard shows the
// newest at or before now, says it left one out, and the banner still
// comes when runs stop.
func TestRunDatedInTheFuture(t *testing.T) {
	is := is.New(t)
	last := aheadRuns[len(aheadRuns)-1]
	s := fixtureServer("ahead", last.Add(30*time.Minute))
	body := get(s.Handler(), "/").Body.String()
	stats := section(body, "needs-rotation")
	is.True(stats != "")
	is.True(strings.Contains(body, `<span class="value">30 minutes ago</span><span class="sub">2026-10-01 03:00 UTC · `+runID(last)+`</span>`))
	is.True(!strings.Contains(body, "just now"))
	is.True(strings.Contains(body, "A complete run dated 2030-01-01 00:00 UTC ("+runID(future)+") is after now, so it is left out"))
	is.True(!strings.Contains(body, `class="banner"`)) // the last run is recent

	w := get(s.Handler(), "/report.csv")
	is.Equal(w.Header().Get("Content-Disposition"), `attachment; filename="ahead-report-`+runID(last)+`.csv"`) // the same run

	later := fixtureServer("ahead", last.Add(5*time.Hour+30*time.Minute))
	body = get(later.Handler(), "/").Body.String()
	is.True(strings.Contains(body, `class="banner"`)) // runs stopped five hours ago
	is.True(strings.Contains(body, "No run has completed since 2026-10-01 03:00 UTC (5 hours ago), though the schedule rate(1 hour) was due 5 times since."))

	before := fixtureServer("ahead", start.Add(-time.Hour)) // before any run but the future one
	w = get(before.Handler(), "/")
	is.Equal(w.Code, 200)
	is.True(strings.Contains(w.Body.String(), "No complete run yet"))
	is.Equal(get(before.Handler(), "/report.csv").Code, http.StatusNotFound)
}

// With the schedule disabled, the banner says so, never that it fired.
func TestBannerWhenTheScheduleIsDisabled(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	// A disabled copy of the stack's schedule, so the stack's own keeps
	// its phase for the other tests.
	sched := env.clients.Scheduler
	live, err := sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(stack + "-hourly")})
	is.NoErr(err)
	_, err = sched.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("ahead-hourly"), ScheduleExpression: live.ScheduleExpression,
		FlexibleTimeWindow: live.FlexibleTimeWindow, Target: live.Target, State: schedtypes.ScheduleStateDisabled})
	is.NoErr(err)
	t.Cleanup(func() {
		_, err := sched.DeleteSchedule(context.Background(), &scheduler.DeleteScheduleInput{Name: aws.String("ahead-hourly")})
		is.NoErr(err)
	})

	last := aheadRuns[len(aheadRuns)-1]
	for _, after := range []time.Duration{30 * time.Minute, 5*time.Hour + 30*time.Minute} {
		s := fixtureServer("ahead", last.Add(after))
		s.Scheduler, s.ScheduleName = sched, "ahead-hourly"
		body := get(s.Handler(), "/").Body.String()
		banner := section(strings.Replace(body, `<div class="banner"`, `<section id="banner"`, 1), "banner")
		is.True(strings.Contains(banner, "The schedule ahead-hourly is disabled, so no run is due until it is enabled again. The last complete run was at 2026-10-01 03:00 UTC"))
		is.True(!strings.Contains(banner, "fired")) // it never fired
		is.True(!strings.Contains(banner, "was due"))
	}

	// Before any run, too.
	s := fixtureServer("ahead", start.Add(-time.Hour))
	s.Scheduler, s.ScheduleName = sched, "ahead-hourly"
	body := get(s.Handler(), "/").Body.String()
	is.True(strings.Contains(body, "The schedule ahead-hourly is disabled"))
}

// failing is a table whose every Query fails with err.
type failing struct{ err error }

func (f failing) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, f.err
}

// An error from the SDK or the network never reaches the page: it says
// what happened plainly, and the log has the details.
func TestErrorPagesArePlain(t *testing.T) {
	sdk := errors.New("operation error DynamoDB: Query, https response error StatusCode: 500, RequestID: 7Q2K, api error InternalServerError: boom")
	down := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tests := []struct {
		name    string
		err     error
		status  int
		heading string
		secret  string
	}{
		{"sdk", sdk, http.StatusInternalServerError, "The dashboard could not read the audit", "RequestID: 7Q2K"},
		{"network", down, http.StatusServiceUnavailable, "The audit&#39;s tables cannot be reached", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var log bytes.Buffer
			s := &Server{Store: &report.Store{DB: failing{tt.err}, Table: "x-audit", RunsTable: "x-runs"}, Stack: "x",
				Schedule: report.Schedule{Expression: "rate(1 hour)"}, Now: func() time.Time { return start },
				Log: slog.New(slog.NewTextHandler(&log, nil))}
			for _, target := range []string{"/", "/report.csv", "/history.json", secretHref("x", "")} {
				w := get(s.Handler(), target)
				is.Equal(w.Code, tt.status)
				is.True(strings.Contains(w.Body.String(), "<h1>"+tt.heading+"</h1>"))
				is.True(strings.Contains(w.Body.String(), "x-audit and x-runs")) // which tables
				is.True(!strings.Contains(w.Body.String(), tt.secret))           // not the SDK's text
				is.True(!strings.Contains(w.Body.String(), "query x-"))
			}
			is.Equal(strings.Count(log.String(), tt.secret), 4) // the log has it, once a request
		})
	}
}
