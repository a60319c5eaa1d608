package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// The stack these tests deploy, and the cloud time they start at: the
// first day of a quarter.
const stack = "dash"

var start = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// The secrets the seeding leaves flagged (in the report's order: all are
// equally old, so by name) and ok. The template seeds dash-fresh and
// dash-stale (and dash-ignored, tagged Managed=false).
var (
	flagged = []string{"dash-db-password", "dash-stale", "dash/api/token"}
	okNow   = []string{"dash-fresh", "dash-rotated"}
	created = []string{"dash-db-password", "dash/api/token", "dash-rotated", "dash-unmanaged"}
)

// env is the one embedded cloud of this test binary (kumo keeps its state
// in package globals), with the stack deployed and seeded.
var env struct {
	cloud    *localcloud.Cloud
	clients  *deploy.Clients
	deployer *deploy.Deployer
	tmpl     *cfn.Template
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	began := time.Now()
	err := setup()
	if err == nil {
		fmt.Printf("dashboard tests: stack %s deployed and seeded (%d simulated days) in %v\n", stack,
			int(env.cloud.Scheduler().Clock().Now().Sub(start)/(24*time.Hour)), time.Since(began).Round(time.Millisecond))
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard tests setup:", err)
	} else {
		code = m.Run()
	}
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard tests teardown:", err)
		code = 1
	}
	return code
}

// setup starts the cloud at the quarter's start, deploys template.yaml and
// seeds 45 days of hourly runs: every secret goes stale after 30 days, two
// are rotated on day 40.
func setup() error {
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		return err
	}
	if env.tmpl, err = cfn.Parse(data); err != nil {
		return err
	}
	root, err := bootstrap.ModuleRoot("../..")
	if err != nil {
		return err
	}
	if env.cloud, err = localcloud.Start(localcloud.Options{ClockStart: start}); err != nil {
		return err
	}
	env.clients = deploy.NewClients(env.cloud.URL, localcloud.DefaultRegion)
	builder := &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	env.deployer = &deploy.Deployer{Clients: env.clients, Stack: stack, Code: builder.Code(true), Logs: io.Discard, Embedded: true}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := env.deployer.Deploy(ctx, env.tmpl); err != nil {
		return fmt.Errorf("deploy %s: %w", stack, err)
	}
	sm := env.clients.SecretsManager
	for _, name := range created {
		managed := "true"
		if name == "dash-unmanaged" {
			managed = "false"
		}
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1"),
			Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String(managed)}}}); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
	}
	if err := advance(ctx, "40d"); err != nil {
		return err
	}
	for _, name := range okNow {
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name),
			RotationRules: &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}); err != nil {
			return fmt.Errorf("rotate %s: %w", name, err)
		}
	}
	if err := advance(ctx, "5d12h"); err != nil {
		return err
	}
	return seedFixtures(ctx)
}

// advance moves the cloud clock, firing every run on the way.
func advance(ctx context.Context, by string) error {
	moved, err := clockapi.MoveClock(ctx, env.cloud.URL, clockapi.ClockMove{Advance: by})
	if err != nil {
		return fmt.Errorf("advance the clock %s: %w", by, err)
	}
	if moved.Failed > 0 {
		return fmt.Errorf("advance the clock %s: %d of %d runs failed", by, moved.Failed, moved.Fired)
	}
	return nil
}

// teardown deletes the secrets the seeding made and the stack, and closes
// the cloud.
func teardown() error {
	var errs []error
	for _, d := range fixtures {
		_, err := d.Teardown(context.Background(), tablesOnly())
		errs = append(errs, err)
	}
	if hub != nil {
		_, err := hub.Teardown(context.Background(), hubTables())
		errs = append(errs, err)
	}
	for _, table := range []string{"many-audit", "many-runs"} {
		_, err := env.clients.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		errs = append(errs, err)
	}
	if env.deployer != nil {
		for _, name := range created {
			_, err := env.clients.SecretsManager.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
				SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
			errs = append(errs, err)
		}
		res, err := env.deployer.Teardown(context.Background(), env.tmpl)
		if err == nil && len(res.Leftovers) > 0 {
			err = fmt.Errorf("teardown of %s left %v", stack, res.Leftovers)
		}
		errs = append(errs, err)
	}
	if env.cloud != nil {
		errs = append(errs, env.cloud.Close())
	}
	return errors.Join(errs...)
}

// now is the cloud's clock.
func now() time.Time { return env.cloud.Scheduler().Clock().Now() }

// server is the dashboard of the test stack at the cloud's clock, or at a
// clock of the test's own.
func server(clock func() time.Time) *Server {
	if clock == nil {
		clock = now
	}
	return &Server{
		Store:        &report.Store{DB: env.clients.DynamoDB, Table: stack + "-audit", RunsTable: stack + "-runs"},
		Stack:        stack,
		Schedule:     report.Schedule{Expression: "rate(1 hour)", Timezone: "UTC"},
		Now:          clock,
		Scheduler:    env.clients.Scheduler,
		ScheduleName: stack + "-hourly",
		Log:          slog.New(slog.DiscardHandler),
	}
}

// get answers a GET of the handler.
func get(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

// section is the HTML of the page's section with that id.
func section(body, id string) string {
	_, after, ok := strings.Cut(body, `<section id="`+id+`"`)
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(after, "</section>")
	return s
}

func TestRoutes(t *testing.T) {
	h := server(nil).Handler()
	q := report.QuarterOf(now())
	tests := []struct {
		target, contentType string
		status              int
		contains            string
	}{
		{"/", "text/html; charset=utf-8", 200, "Needs rotation now"},
		{"/?quarter=" + q, "text/html; charset=utf-8", 200, "(" + q + ")"},
		{"/?quarter=2026q3", "text/html; charset=utf-8", 200, "(2026Q3)"},
		{"/secret?name=dash-stale", "text/html; charset=utf-8", 200, "older than max age"},
		{"/secret?name=dash%2Fapi%2Ftoken&quarter=" + q, "text/html; charset=utf-8", 200, "dash/api/token"},
		{"/secret?name=dash/api/token", "text/html; charset=utf-8", 200, "dash/api/token"},
		{"/secret/dash/api/token?quarter=" + q, "text/html; charset=utf-8", 301, `href="/secret?name=dash%2Fapi%2Ftoken&amp;quarter=` + q}, // links of the earlier form
		{"/secret/dash-stale", "text/html; charset=utf-8", 301, `href="/secret?name=dash-stale"`},
		{"/secret", "text/html; charset=utf-8", 400, "such as /secret?name=prod/db/password"},
		{"/report.csv", "text/csv; charset=utf-8", 200, "secret_name,status,reason"},
		{"/report.csv?all=1", "text/csv; charset=utf-8", 200, "dash-rotated"},
		{"/report.json", "application/json", 200, `"secrets"`},
		{"/report.md", "text/markdown; charset=utf-8", 200, "# Rotation report: dash"},
		{"/history.csv", "text/csv; charset=utf-8", 200, "secret_name,days_seen"},
		{"/history.json?quarter=" + q, "application/json", 200, `"runs_expected"`},
		{"/history.md", "text/markdown; charset=utf-8", 200, "# Rotation evidence: dash"},
		{"/style.css", "text/css; charset=utf-8", 200, "--bad"},
		{"/secret?name=no-such-secret", "text/html; charset=utf-8", 404, "no-such-secret"},
		{"/?quarter=Q4-2026", "text/html; charset=utf-8", 400, "want YEARQn, such as 2026Q4"},
		{"/?quarter=2099Q1", "text/html; charset=utf-8", 400, "has not started yet"},
		{"/history.csv?quarter=2026Q5", "text/html; charset=utf-8", 400, "want YEARQn"},
		{"/secret?name=dash-stale&quarter=x", "text/html; charset=utf-8", 400, "want YEARQn"},
		{"/nothing-here", "text/html; charset=utf-8", 404, "Page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			is := is.New(t)
			w := get(h, tt.target)
			is.Equal(w.Code, tt.status)
			is.Equal(w.Header().Get("Content-Type"), tt.contentType)
			is.True(strings.Contains(w.Body.String(), tt.contains)) // the answer says what it should
			is.True(!strings.Contains(w.Body.String(), "goroutine"))
		})
	}
}

func TestIndexListsTheFlaggedSecrets(t *testing.T) {
	is := is.New(t)
	body := get(server(nil).Handler(), "/").Body.String()
	needs := section(body, "needs-rotation")
	for _, name := range flagged {
		is.True(strings.Contains(needs, ">"+name+"</a>")) // flagged: listed
	}
	for _, name := range okNow {
		is.True(!strings.Contains(needs, name)) // rotated: not listed
		is.True(strings.Contains(body, name))   // but in the grid
	}
	is.True(strings.Contains(needs, `href="/secret?name=dash%2Fapi%2Ftoken&amp;quarter=2026Q4"`))
	is.True(strings.Contains(needs, "2026-10-31")) // flagged since the first run more than 30 days (elapsed) after its creation
	is.True(strings.Contains(body, "<title>2026-10-01: ok</title>"))
	is.True(!strings.Contains(body, `class="banner"`))
}

func TestReportDownload(t *testing.T) {
	is := is.New(t)
	w := get(server(nil).Handler(), "/report.csv")
	is.Equal(w.Code, 200)
	lines := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
	is.Equal(lines[0], strings.Join(report.ReportColumns, ","))
	is.Equal(len(lines), 1+len(flagged))
	for i, name := range flagged {
		is.True(strings.HasPrefix(lines[i+1], name+",needs_rotation,"))
	}
	srv := server(nil)
	run, err := srv.Store.LatestRun(context.Background(), srv.Now())
	is.NoErr(err)
	is.Equal(w.Header().Get("Content-Disposition"), `attachment; filename="dash-report-`+run.Run.RunID+`.csv"`)

	w = get(server(nil).Handler(), "/history.md?quarter=2026Q4")
	is.Equal(w.Header().Get("Content-Disposition"), `attachment; filename="dash-history-2026Q4.md"`)
	is.True(strings.HasPrefix(w.Body.String(), "# Rotation evidence: dash, 2026-10-01 to 2026-12-31 (2026Q4), so far"))
}

func TestSecretPage(t *testing.T) {
	is := is.New(t)
	body := get(server(nil).Handler(), "/secret?name=dash-rotated").Body.String()
	is.True(strings.Contains(body, "Showing the latest 200 of the"))                       // capped, and says so
	is.Equal(strings.Count(section(body, "rows"), `<td class="mono">run-`), maxSecretRows) // 200 rows
	is.True(strings.Contains(body, `<span class="badge st-ok">ok</span>`))                 // rotated: ok now
	is.True(strings.Contains(body, "every 30 days"))
	more := regexp.MustCompile(`<a href="([^"]*rows=all)">Show all of them</a>`).FindStringSubmatch(body)
	is.True(more != nil) // a link to every row of the period
	total := regexp.MustCompile(`Rows in period</dt><dd>(\d+),`).FindStringSubmatch(body)
	is.True(total != nil)
	all := get(server(nil).Handler(), html.UnescapeString(more[1])).Body.String()
	is.Equal(strconv.Itoa(strings.Count(section(all, "rows"), `<td class="mono">run-`)), total[1]) // every row
	is.True(!strings.Contains(all, "Showing the latest"))
}

// The banner appears when two scheduled runs are missed, and goes when
// runs resume. The last fire missed is pending until the function's
// timeout has passed, then missing.
func TestBanner(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	h := server(nil).Handler()
	is.True(!strings.Contains(get(h, "/").Body.String(), `class="banner"`))

	_, err := clockapi.MoveClock(ctx, env.cloud.URL, clockapi.ClockMove{Advance: "5h", SkipFires: true})
	is.NoErr(err)
	body := get(h, "/").Body.String()
	is.True(strings.Contains(body, `class="banner"`))
	is.True(strings.Contains(body, "the schedule rate(1 hour) was due 5 times since"))
	is.True(strings.Contains(body, "gap: 4 runs missing")) // the fire of a moment ago...
	is.True(strings.Contains(body, "1 pending"))           // ...may still be running

	is.NoErr(advance(ctx, "2h")) // runs resume: the gap stays in the evidence
	body = get(h, "/").Body.String()
	is.True(!strings.Contains(body, `class="banner"`))
	is.True(strings.Contains(body, "gap: 5 runs missing"))
}

func TestMissingTable(t *testing.T) {
	is := is.New(t)
	s := server(nil)
	s.Store = &report.Store{DB: env.clients.DynamoDB, Table: "nope-audit", RunsTable: "nope-runs"}
	for _, target := range []string{"/", "/report.csv", "/history.json", "/secret?name=x"} {
		w := get(s.Handler(), target)
		is.Equal(w.Code, http.StatusServiceUnavailable)
		is.True(strings.Contains(w.Body.String(), "does not exist (is the stack deployed"))
	}
}

// noRows is a table with nothing in it: every Query answers no items.
type noRows struct{}

func (noRows) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{}, nil
}

func TestNoRunYet(t *testing.T) {
	is := is.New(t)
	s := &Server{Store: &report.Store{DB: noRows{}, Table: "new-audit", RunsTable: "new-runs"}, Stack: "new",
		Schedule: report.Schedule{Expression: "rate(1 hour)"}, Now: func() time.Time { return start.Add(90 * time.Minute) }}
	w := get(s.Handler(), "/")
	is.Equal(w.Code, 200)
	is.True(strings.Contains(w.Body.String(), "No complete run yet"))
	is.True(!strings.Contains(w.Body.String(), `class="banner"`))
	is.True(!strings.Contains(w.Body.String(), `href="/report.`)) // no link to a report that is not there
	is.True(strings.Contains(w.Body.String(), `href="/history.csv?quarter=2026Q4"`))
	w = get(s.Handler(), "/report.csv")
	is.Equal(w.Code, 404)
	is.True(strings.Contains(w.Body.String(), "no complete run is recorded yet"))
}
