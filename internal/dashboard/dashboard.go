// Package dashboard serves a read-only web dashboard of one stack's
// rotation audit: the last complete run and the secrets it flagged, the
// period's checked and flagged counts per day, a grid of every secret's
// status day by day, each secret's rows, and the same downloads as the
// rotation-audit command. Pages are rendered on the server with
// html/template; charts are SVG drawn in Go; the stylesheet is embedded.
// No JavaScript and no external asset is needed.
//
// It imports package report for every read and rendering, package audit
// for the row shapes, package schedexpr for the expected fire times, the
// EventBridge Scheduler SDK types for the schedule's state, and the
// standard library.
package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/schedexpr"
)

// Server serves the dashboard of one stack.
type Server struct {
	Store    *report.Store
	Stack    string
	Schedule report.Schedule  // the schedule's expression and zone: expected runs, the missed-runs banner
	Now      func() time.Time // the clock (the cloud's clock on the embedded cloud)
	// Scheduler and ScheduleName read the schedule's state for the banner,
	// on each view of the dashboard; with Scheduler nil, or when the read
	// fails, the state is unknown and the banner says only what is due.
	Scheduler    ScheduleReader
	ScheduleName string
	// Log receives the errors behind the error pages, which show a plain
	// message instead (nil: slog.Default()).
	Log *slog.Logger

	work shared // turns to build a page, and what requests share
}

// ScheduleReader is the part of the EventBridge Scheduler client the
// dashboard uses.
type ScheduleReader interface {
	GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
}

var _ ScheduleReader = (*scheduler.Client)(nil)

//go:embed templates
var files embed.FS

// pages are the page templates, each with the shared layout.
var pages = map[string]*template.Template{
	"index":  template.Must(template.ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/index.html")),
	"org":    template.Must(template.ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/org.html")),
	"secret": template.Must(template.ParseFS(files, "templates/layout.html", "templates/secret.html")),
	"error":  template.Must(template.ParseFS(files, "templates/layout.html", "templates/error.html")),
}

// The download formats, each at /report.<ext> and /history.<ext> (the
// index page links them all).
var downloadFormats = []report.Format{report.CSV, report.JSON, report.Markdown}

// maxSecretRows is how many rows a secret's page lists unless asked for
// all of them (?rows=all).
const maxSecretRows = 200

// pageSize is how many secrets a page of the grid, or of the secrets
// needing rotation, lists.
const pageSize = 100

// maxMissed bounds the missed fires counted for the banner.
const maxMissed = 10_000

// Handler returns the dashboard's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.handle(s.index))
	mux.Handle("GET /secret", s.handle(s.secret))
	// A name is a query parameter: as a path, a name such as
	// /prod/db/password, x/../y, . or .. is cleaned away by the router or
	// the browser. Links of the earlier /secret/<name> form still work.
	mux.HandleFunc("GET /secret/{name...}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, secretHref(r.PathValue("name"), r.URL.Query().Get("quarter")), http.StatusMovedPermanently)
	})
	for _, f := range downloadFormats {
		mux.Handle("GET /report."+f.Ext(), s.handle(s.reportFile(f)))
		mux.Handle("GET /history."+f.Ext(), s.handle(s.historyFile(f)))
	}
	mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "templates/style.css")
	})
	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &statusError{http.StatusNotFound, "Page not found", fmt.Errorf("there is no page at %s", r.URL.Path)}
	}))
	return secure(s.work.bounded(mux))
}

// Serve serves the dashboard on ln until ctx ends, then shuts down,
// letting requests in flight finish for up to two seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	<-stopped
	return nil
}

// index is the dashboard of a period: a single-account stack's; for an
// organization run the organization's page, or with ?account= one
// account's.
func (s *Server) index(w http.ResponseWriter, r *http.Request) error {
	now := s.Now().UTC()
	q, from, to, err := period(r, now)
	if err != nil {
		return err
	}
	ctx := r.Context()
	v := indexData{now: now, quarter: q, filter: r.URL.Query().Get("q")}
	for _, p := range []struct {
		param string
		page  *int
	}{{"page", &v.page}, {"fpage", &v.flaggedPage}, {"npage", &v.missingPage}, {"apage", &v.accountsPage}} {
		if *p.page, err = pageOf(r, p.param); err != nil {
			return err
		}
	}
	if v.account, err = accountParam(r); err != nil {
		return err
	}
	// The history and the latest run are read at once: on a cold start
	// each is a few Queries. The organization's page needs no secret of
	// the history.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		v.history, err = report.ReadPeriod(gctx, s.Store, s.Stack, from, to, now, s.Schedule)
		if err == nil && (!v.history.Org || v.account != "") {
			err = s.secrets(gctx, &v.history)
			v.secretsRead = true
		}
		if err != nil && !errors.Is(err, report.ErrNoRuns) {
			return fmt.Errorf("read the history of %s: %w", q, err)
		}
		return nil
	})
	g.Go(func() error {
		v.disabled = s.disabled(gctx)
		latest, ahead, err := s.latestRun(gctx, now)
		v.ahead = ahead
		switch {
		case errors.Is(err, report.ErrNoRuns) && v.account != "":
			return &statusError{http.StatusNotFound, "No complete run yet", fmt.Errorf("?account=%s: %w, so no account has a page yet", v.account, err)}
		case errors.Is(err, report.ErrNoRuns):
			return nil
		case err != nil:
			return fmt.Errorf("read the latest run: %w", err)
		}
		v.latest = &latest
		if v.missed, err = s.missedRuns(latest, now); err != nil {
			return err
		}
		store := s.Store.ForRun(latest)
		if !store.Org {
			if v.account != "" {
				return notOrganization(v.account, latest)
			}
			if v.flagged, err = s.flaggedRows(gctx, latest); err != nil {
				return fmt.Errorf("read the rows of run %s: %w", latest.RunID, err)
			}
			return nil
		}
		if v.org, err = s.organization(gctx, store, latest); err != nil || v.account == "" {
			return err
		}
		acct, err := v.org.account(v.account, latest)
		if err != nil {
			return err
		}
		v.acct = &acct
		v.flagged, err = s.accountFlagged(gctx, store, latest, v.account)
		return err
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if v.org != nil && v.account == "" {
		return render(w, http.StatusOK, "org", s.orgPage(v))
	}
	if !v.secretsRead && !v.history.FirstComplete.IsZero() { // the period is an organization's, the latest run is not
		if err := s.secrets(ctx, &v.history); err != nil {
			return fmt.Errorf("read the history of %s: %w", q, err)
		}
	}
	if v.account != "" {
		// The secrets are shared: the account's are a copy.
		v.history.Secrets = slices.Clone(v.history.Secrets)
		if err := v.history.ForAccount(v.account); err != nil && !errors.Is(err, report.ErrNoSuchAccount) {
			return err // none seen in the period (an account not reporting) is an empty grid
		}
	}
	return render(w, http.StatusOK, "index", s.indexPage(v))
}

// history is the evidence for a period as of now: the run log's part read
// for each request, the secrets' part shared by the requests until a run
// lands in the period.
func (s *Server) history(ctx context.Context, from, to, now time.Time) (report.History, error) {
	h, err := report.ReadPeriod(ctx, s.Store, s.Stack, from, to, now, s.Schedule)
	if err != nil {
		return h, err
	}
	return h, s.secrets(ctx, &h)
}

// secrets reads a history's secrets, shared by the requests until a run
// lands in its period.
func (s *Server) secrets(ctx context.Context, h *report.History) error {
	secrets, err := s.work.value(ctx, "secrets "+h.From.Format(dateLayout), h.SecretsKey(), func(ctx context.Context) (any, error) {
		read := *h
		err := read.ReadSecrets(ctx, s.Store)
		return read.Secrets, err
	})
	if err != nil {
		return err
	}
	h.Secrets = secrets.([]report.SecretHistory)
	return nil
}

// flaggedRows are the rows of a run that need rotation, in the report's
// order: read once per run, for every request until the next run.
func (s *Server) flaggedRows(ctx context.Context, run audit.RunEntry) ([]audit.Record, error) {
	rows, err := s.work.value(ctx, "flagged", run.RunID, func(ctx context.Context) (any, error) {
		var flagged []audit.Record
		err := s.Store.EachRow(ctx, run.RunID, func(r audit.Record) {
			if r.Flagged() {
				flagged = append(flagged, r)
			}
		})
		return report.NewReport(s.Stack, run, flagged, false).Rows, err
	})
	if err != nil {
		return nil, err
	}
	return rows.([]audit.Record), nil
}

// pageOf reads a page number (?page=, ?fpage=), 1 when absent.
func pageOf(r *http.Request, param string) (int, error) {
	v := r.URL.Query().Get(param)
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, &statusError{http.StatusBadRequest, "Not a page", fmt.Errorf("?%s=%s: want a page number from 1, such as ?%s=2", param, v, param)}
	}
	return n, nil
}

// latestRun is the newest complete run at or before now, and the newest
// complete run dated after now, if there is one (a run invoked by hand
// with a scheduled_time ahead of the clock): it is left out, or it would
// stay "the latest run" until the clock passed it.
func (s *Server) latestRun(ctx context.Context, now time.Time) (audit.RunEntry, *audit.RunEntry, error) {
	found, err := s.Store.LatestRun(ctx, now)
	return found.Run, found.Ahead, err
}

// disabled says whether the schedule is known to be disabled now; false
// when its state cannot be read.
func (s *Server) disabled(ctx context.Context) bool {
	if s.Scheduler == nil || s.ScheduleName == "" {
		return false
	}
	out, err := s.Scheduler.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(s.ScheduleName)})
	if err != nil {
		s.log().Warn("dashboard: read the schedule's state", "schedule", s.ScheduleName, "error", err)
		return false
	}
	return out.State == schedtypes.ScheduleStateDisabled
}

// secret is one secret's rows over a period.
func (s *Server) secret(w http.ResponseWriter, r *http.Request) error {
	now := s.Now().UTC()
	q, from, to, err := period(r, now)
	if err != nil {
		return err
	}
	// A secret is its name, or an organization's secret its ARN (?arn=),
	// read from the organization table.
	name, store := r.URL.Query().Get("name"), s.Store
	arn := r.URL.Query().Get("arn")
	switch {
	case arn != "":
		if err := secretARN(arn); err != nil {
			return &statusError{http.StatusBadRequest, "Not a secret's ARN", err}
		}
		org := *s.Store
		org.Org, name, store = true, arn, &org
	case name == "":
		return &statusError{http.StatusBadRequest, "Which secret?",
			errors.New("want the secret's name, such as /secret?name=prod/db/password; the dashboard links every secret it lists")}
	}
	ctx, v := r.Context(), secretData{name: name, quarter: q, from: from, to: to, now: now, daily: map[string]audit.Status{},
		all: r.URL.Query().Get("rows") == "all", path: secretPath(name)}
	if store.Org {
		v.path = arnPath(arn)
	}
	err = store.EachSecretRow(ctx, name, from, to, func(r audit.Record) {
		if v.total == 0 {
			v.last = r
		}
		v.first = r
		v.total++
		if r.Flagged() {
			v.flaggedRows++
		}
		if v.all || len(v.rows) < maxSecretRows {
			v.rows = append(v.rows, r)
		}
		if day := dateOf(r.CheckedAt); !has(v.daily, day) {
			v.daily[day] = r.Status // newest first: the day's last row
		}
	})
	if err != nil {
		return fmt.Errorf("read the history of secret %s: %w", v.name, err)
	}
	if v.total == 0 && store.Org {
		return &statusError{http.StatusNotFound, "No such secret in " + q,
			fmt.Errorf("the audit has no row for the secret %s in %s; it lists only the secrets it checks", arn, q)}
	}
	if v.total == 0 {
		return &statusError{http.StatusNotFound, "No such secret in " + q,
			fmt.Errorf("the audit has no row for a secret named %q in %s; it lists only the secrets it checks", v.name, q)}
	}
	if store.Org { // the page is about the secret's name, in its account and region
		v.name, v.org = v.last.SecretName, true
	}
	// The days with a complete run, so the strip tells a day without a run
	// from a day whose run did not list the secret: a Query per month.
	until := to
	if now.Before(to) {
		until = now
	}
	runs, err := s.Store.Runs(ctx, from, until)
	if err != nil {
		return fmt.Errorf("read the run log: %w", err)
	}
	v.judged = map[string]bool{}
	for _, run := range runs {
		if at, err := tables.ParseRunID(run.RunID); err == nil && run.Complete {
			v.judged[at.Format(dateLayout)] = true
		}
	}
	// Link the quarters around only where the secret has rows: a Query of
	// one day on each side.
	if v.seenBefore, err = s.seen(ctx, store, name, from.AddDate(0, 0, -1), from); err != nil {
		return err
	}
	if !to.After(now) {
		if v.seenAfter, err = s.seen(ctx, store, name, to, to.AddDate(0, 0, 1)); err != nil {
			return err
		}
	}
	return render(w, http.StatusOK, "secret", s.secretPage(v))
}

// secretARN checks ?arn= as an organization's pages link it: a Secrets
// Manager secret's ARN, arn:<partition>:secretsmanager:<region>:<account>:secret:<name>.
func secretARN(arn string) error {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) < 7 || parts[0] != "arn" || parts[2] != "secretsmanager" || parts[3] == "" || report.ValidAccount(parts[4]) != nil ||
		parts[5] != "secret" || parts[6] == "" {
		return fmt.Errorf("?arn=%s: want a secret's ARN, such as /secret?arn=arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf; the dashboard links every secret it lists", arn)
	}
	return nil
}

// has says whether a map has a key.
func has[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// seen says whether a secret (its name, or in an organization store its
// ARN) has rows in [from, to).
func (s *Server) seen(ctx context.Context, store *report.Store, name string, from, to time.Time) (bool, error) {
	rows, err := store.SecretHistory(ctx, name, from, to)
	if err != nil {
		return false, fmt.Errorf("read the history of secret %s: %w", name, err)
	}
	return len(rows) > 0, nil
}

// reportFile downloads the latest complete run's report (?all=1: every
// secret, not only those flagged). For an organization run it holds the
// accounts, reporting or not; ?account= limits it to one account.
func (s *Server) reportFile(f report.Format) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		account, err := accountParam(r)
		if err != nil {
			return err
		}
		run, _, err := s.latestRun(ctx, s.Now().UTC())
		if err != nil {
			return fmt.Errorf("read the latest run: %w", err)
		}
		store := s.Store.ForRun(run)
		if account != "" && !store.Org {
			return notOrganization(account, run)
		}
		var org *report.Organization
		var rows []audit.Record
		if store.Org {
			o, err := s.organization(ctx, store, run)
			if err != nil {
				return err
			}
			if account != "" {
				if _, err := o.account(account, run); err != nil {
					return err
				}
			}
			if org, err = report.NewOrganization(o.units, account); err != nil {
				return err
			}
		}
		if account != "" {
			rows, err = store.AccountRows(ctx, account, run.RunID)
		} else {
			rows, err = store.Rows(ctx, run.RunID)
		}
		if err != nil {
			return fmt.Errorf("read the rows of run %s: %w", run.RunID, err)
		}
		all := r.URL.Query().Get("all") == "1"
		name := s.Stack + "-report-" + run.RunID
		if account != "" {
			name += "-" + account
		}
		if all {
			name += "-all"
		}
		rep := report.NewReport(s.Stack, run, rows, all)
		rep.Org = org
		return attach(w, name+"."+f.Ext(), f, func(b *bytes.Buffer) error {
			return report.WriteReport(b, rep, f)
		})
	}
}

// historyFile downloads the evidence for a period; ?account= limits an
// organization's to one account.
func (s *Server) historyFile(f report.Format) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		now := s.Now().UTC()
		q, from, to, err := period(r, now)
		if err != nil {
			return err
		}
		account, err := accountParam(r)
		if err != nil {
			return err
		}
		h, err := s.history(r.Context(), from, to, now)
		if err != nil {
			return fmt.Errorf("read the history of %s: %w", q, err)
		}
		name := s.Stack + "-history-" + q
		if account != "" {
			if !h.Org {
				return &statusError{http.StatusBadRequest, "Not an organization",
					fmt.Errorf("?account=%s: the runs of %s are single-account runs; ?account= is for an organization hub (a stack deployed with Accounts)", account, q)}
			}
			h.Secrets = slices.Clone(h.Secrets) // shared: the account's are a copy
			if err := h.ForAccount(account); err != nil {
				return &statusError{http.StatusNotFound, "No such account in " + q, err}
			}
			name += "-" + account
		}
		return attach(w, name+"."+f.Ext(), f, func(b *bytes.Buffer) error {
			return report.WriteHistory(b, h, f)
		})
	}
}

// missedRuns counts the schedule's fires after the latest complete run (its
// scheduled time, which its run ID holds to the millisecond) up to now.
func (s *Server) missedRuns(run audit.RunEntry, now time.Time) (int, error) {
	last, err := tables.ParseRunID(run.RunID)
	if err != nil {
		return 0, fmt.Errorf("latest run: %w", err)
	}
	fires, err := schedexpr.Fires(s.Schedule.Expression, s.Schedule.Timezone, last, last.Add(time.Nanosecond), now, maxMissed)
	if err != nil {
		return 0, fmt.Errorf("schedule %s: %w", s.Schedule.Expression, err)
	}
	return len(fires), nil
}

// period reads ?quarter= (the quarter of now when absent). A quarter that
// has not started yet holds no evidence, so it is refused like a malformed one.
func period(r *http.Request, now time.Time) (q string, from, to time.Time, err error) {
	q = r.URL.Query().Get("quarter")
	if q == "" {
		q = report.QuarterOf(now)
	}
	if from, to, err = report.Quarter(q); err != nil {
		return "", from, to, &statusError{http.StatusBadRequest, "Not a quarter", err}
	}
	if from.After(now) {
		return "", from, to, &statusError{http.StatusBadRequest, "That quarter has not started",
			fmt.Errorf("quarter %s has not started yet: want a quarter up to %s, such as ?quarter=%s", q, report.QuarterOf(now), report.QuarterOf(now))}
	}
	return report.QuarterOf(from), from, to, nil
}

// contentTypes are the downloads' media types.
var contentTypes = map[report.Format]string{
	report.CSV:      "text/csv; charset=utf-8",
	report.JSON:     "application/json",
	report.Markdown: "text/markdown; charset=utf-8",
}

// attach writes a download whole, or nothing if it fails part way.
func attach(w http.ResponseWriter, filename string, f report.Format, write func(*bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return fmt.Errorf("write %s: %w", filename, err)
	}
	w.Header().Set("Content-Type", contentTypes[f])
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filename))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes()) // an error here means the client has gone
	return nil
}

// statusError is an error a person can act on, with its HTTP status and
// the heading of its page.
type statusError struct {
	status  int
	heading string
	err     error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// handle adapts a handler that returns an error, and shows that error as
// a page. Only the dashboard's own messages reach the page; an error from
// the SDK or the network goes to the log, and the page says it plainly.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil || errors.Is(err, context.Canceled) {
			return // done, or nobody is waiting for the answer
		}
		if errors.Is(err, errStreamed) {
			s.log().Warn("dashboard: "+r.Method+" "+r.URL.RequestURI(), "error", err)
			return
		}
		p := errorPage{layout: s.layout("Error", "/", "", time.Time{}, false, false)}
		var se *statusError
		var netErr *net.OpError
		switch {
		case errors.As(err, &se):
			p.Status, p.Heading, p.Message = se.status, se.heading, sentence(err.Error())
		case errors.Is(err, report.ErrNoTable):
			p.Status, p.Heading, p.Message = http.StatusServiceUnavailable, "The audit's tables are missing", sentence(err.Error())
		case errors.Is(err, report.ErrNoRuns):
			p.Status, p.Heading, p.Message = http.StatusNotFound, "No complete run yet", sentence(err.Error())
		case errors.As(err, &netErr):
			p.Status, p.Heading = http.StatusServiceUnavailable, "The audit's tables cannot be reached"
			p.Message = "The dashboard cannot reach the endpoint that holds the tables " + s.Store.Table + " and " + s.Store.RunsTable +
				". Check that it is running, then reload this page."
		default:
			p.Status, p.Heading = http.StatusInternalServerError, "The dashboard could not read the audit"
			p.Message = "Reading the tables " + s.Store.Table + " and " + s.Store.RunsTable +
				" failed. The dashboard's log (where it was started) says why; reload this page to try again."
		}
		if p.Message != sentence(err.Error()) { // the page does not say it: the log does
			s.log().Error("dashboard: "+r.Method+" "+r.URL.RequestURI(), "status", p.Status, "error", err)
		}
		p.Title = p.Heading
		if err := render(w, p.Status, "error", p); err != nil {
			s.log().Error("dashboard: the error page failed", "error", err)
			http.Error(w, "The dashboard could not show its error page.", http.StatusInternalServerError)
		}
	})
}

// log is the server's logger.
func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// render executes a page's template, streaming it as it renders: the
// data is prepared before, so what can fail part way is the connection.
// An error part way cannot become an error page (the status is sent), so
// it is logged, and the page ends there.
func render(w http.ResponseWriter, status int, name string, data any) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b := bufio.NewWriterSize(w, 32<<10)
	err := pages[name].ExecuteTemplate(b, "layout", data)
	if err == nil {
		err = b.Flush()
	}
	if err != nil {
		return fmt.Errorf("render the %s page: %w: %w", name, errStreamed, err)
	}
	return nil
}

// errStreamed is wrapped by an error that came after a page had started:
// the log says it, nothing else can.
var errStreamed = errors.New("after the page had started")

// secure sets the headers every answer carries: nothing but this server's
// own stylesheet may load, and no page may be framed.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// sentence starts an error's text with a capital letter, for a page.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
