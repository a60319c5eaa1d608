// Package audit runs one rotation check: it lists the secrets carrying the
// configured tag, judges each by the age of its current value, and writes
// one audit row per secret to DynamoDB. Pages are judged and written as
// they arrive, with lookups and writes running concurrently under small
// bounds, so a run's time approaches the paging floor and its memory stays
// flat whatever the number of secrets.
//
// It imports the AWS SDK's Secrets Manager and DynamoDB types (through
// tiny interfaces with the SDK's own method signatures), attributevalue,
// errgroup and package tables (the table contract it writes by); never an
// emulator.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

const (
	// pageSize is ListSecrets' maximum MaxResults.
	pageSize = 100
	// batchSize is BatchWriteItem's maximum number of requests.
	batchSize = 25
	// DefaultStopMargin is how long before the invocation deadline a run
	// stops, so it can report what it wrote instead of being killed
	// mid-batch: the run log entry gets the first half of the margin, and
	// the second half is left for the log line (with its metrics) and the
	// return, which must get out even when the run log write hangs.
	DefaultStopMargin = 2 * time.Second
	// DefaultLookups and DefaultWriters bound the ListSecretVersionIds and
	// BatchWriteItem calls in flight: enough to hide their round trips
	// behind the paging (at 20 ms a call, 16 lookups keep up with a tenth of
	// every page changed by hand, 8 writers with four batches a page), few
	// enough to stay within the APIs' rate limits; throttling is retried.
	DefaultLookups = 16
	DefaultWriters = 8
	// maxReported bounds how many unaudited secrets an error names.
	maxReported = 10
	// prefetch is how many pages may wait to be judged: enough to keep
	// the paging going while the previous run is read, before the first
	// page can be judged (at 20 ms a call, 32 pages are 640 ms of
	// listing, more than the Queries of 10,000 rows in pages of
	// rowsPage take: make bench-latency), few enough to keep memory
	// flat (a page of secrets is under 100 KB, so about 3 MB at most).
	prefetch = 32
	// rowsPage bounds a page of the previous run's rows to about what
	// AWS's 1 MB pages hold (projected rows are about 250 bytes), so that
	// an endpoint that answers in one page does not make the function
	// hold every row's JSON at once.
	rowsPage = 4000
)

// Secrets is the part of the Secrets Manager client the check uses.
type Secrets interface {
	secretsmanager.ListSecretsAPIClient
	secretsmanager.ListSecretVersionIdsAPIClient
}

// BatchWriter is the part of the DynamoDB client the check uses.
type BatchWriter interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var (
	_ BatchWriter = (*dynamodb.Client)(nil)
	_ Secrets     = (*secretsmanager.Client)(nil)
)

// Result is what an invocation returns.
type Result struct {
	RunID     string `json:"run_id"`
	Checked   int    `json:"checked"`
	Flagged   int    `json:"flagged"`
	Written   int    `json:"written"`
	Unaudited int    `json:"unaudited"`
	LookedUp  int    `json:"looked_up"`
	// Replicas counts the replicas left to their primary's region
	// (Config.AuditedRegions); always 0 in single-account mode.
	Replicas   int    `json:"replicas,omitempty"`
	CheckedAt  string `json:"checked_at"`
	DurationMS int64  `json:"duration_ms"`
	// PreviousRunID is the complete run this one compared itself with;
	// empty for the first run, whose secrets are all new.
	PreviousRunID string `json:"previous_run_id,omitempty"`
	// New, NewlyFlagged and Resolved count the rows by change, Gone the
	// tombstones (package tables); NewFlagged is how many of the new
	// secrets need rotation. Gone rows are written, not checked.
	New          int `json:"new"`
	NewFlagged   int `json:"new_flagged"`
	NewlyFlagged int `json:"newly_flagged"`
	Resolved     int `json:"resolved"`
	Gone         int `json:"gone"`
	// FindingsImported and FindingsFailed count the Security Hub findings
	// of the run (SECURITY_HUB_FINDINGS); FindingsError is why an import
	// stopped. A Security Hub failure never makes the run incomplete.
	FindingsImported int    `json:"findings_imported,omitempty"`
	FindingsFailed   int    `json:"findings_failed,omitempty"`
	FindingsError    string `json:"findings_error,omitempty"`
}

// count adds a row written to the counts.
func (res *Result) count(rec Record) {
	switch rec.Change {
	case tables.ChangeGone:
		res.Gone++
		return
	case tables.ChangeNew:
		res.New++
		if rec.Flagged() {
			res.NewFlagged++
		}
	case tables.ChangeNewlyFlagged:
		res.NewlyFlagged++
	case tables.ChangeResolved:
		res.Resolved++
	}
	res.Checked++
	if rec.Flagged() {
		res.Flagged++
	}
}

// Checker runs rotation checks. Build it with New; tests may then replace
// Now, Backoff, StopMargin, Lookups and Writers.
type Checker struct {
	Secrets Secrets
	Table   BatchWriter
	// Reads reads the previous complete run (with Config.RunsTableName).
	Reads Querier
	// Runs writes the run log; nil when Config.RunsTableName is empty, and
	// for an organization unit, which reads the previous run from the run
	// log but writes no entry of its own (its run's entry is the
	// coordinator's).
	Runs   RunLogger
	Config Config
	Logger *slog.Logger
	// Now is the clock of manual runs; a scheduled run judges at its
	// scheduled time.
	Now func() time.Time
	// Backoff spaces writeBatch's retries (see retry.go for the policy).
	Backoff retry.BackoffDelayer
	// StopMargin is how long before the context's deadline a run gives up;
	// the run log write must end by half of it (see DefaultStopMargin).
	StopMargin time.Duration
	// Lookups and Writers bound the calls in flight.
	Lookups, Writers int
	// Findings imports a complete run's Security Hub findings; nil (the
	// default, SECURITY_HUB_FINDINGS off) makes no Security Hub call.
	Findings Importer
	// UnitDone, for an organization unit, says whether the unit was done
	// in the complete run runID (the hub's units table): a unit compares
	// itself with the last run in which it was done (see previousRun).
	// Nil in single-account mode, where every complete run is a baseline.
	UnitDone func(ctx context.Context, runID string) (bool, error)
}

// Tables is the part of the DynamoDB client that writes the audit rows and
// the run log, and reads the previous run.
type Tables interface {
	BatchWriter
	RunLogger
	Querier
}

// New returns a Checker with the real clock, exponential backoff with full
// jitter, and the default bounds.
func New(secrets Secrets, table Tables, cfg Config, logger *slog.Logger) *Checker {
	return &Checker{
		Secrets:    secrets,
		Table:      table,
		Reads:      table,
		Runs:       table,
		Config:     cfg,
		Logger:     logger,
		Now:        time.Now,
		Backoff:    retry.BackoffDelayerFunc(fullJitter),
		StopMargin: DefaultStopMargin,
		Lookups:    DefaultLookups,
		Writers:    DefaultWriters,
	}
}

// Invoke is the Lambda entry point (it makes Checker a lambda.Handler): it
// receives the raw payload, so that an empty one counts as {} and anything
// else is judged by ParseEvent rather than by a generic JSON decoder.
func (c *Checker) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	res, err := c.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// Handle validates the payload before any AWS call, a scheduled_time in
// the future (notAhead) included, then runs the check.
func (c *Checker) Handle(ctx context.Context, payload []byte) (Result, error) {
	ev, err := ParseEvent(payload)
	if err == nil {
		err = notAhead(ev, c.Now(), c.Config.FlexibleWindow)
	}
	if err != nil {
		c.Logger.Error("event rejected", "error", err.Error())
		return Result{}, err
	}
	return c.Run(ctx, ev)
}

// Run lists, judges and records every selected secret. On error the Result
// still says exactly what was written; because the run ID comes from the
// scheduled time, running the same event again rewrites the same rows.
func (c *Checker) Run(ctx context.Context, ev Event) (Result, error) {
	start := time.Now()
	now := c.Now().UTC()
	checkedAt := CheckedAt(ev, now)
	policy := Policy{MaxAgeDays: c.Config.MaxAgeDays, UnusedDays: c.Config.UnusedDays, Region: c.Config.Region}
	r := run{
		id:        RunID(ev, now),
		checkedAt: checkedAt,
		policy:    policy,
		expiresAt: checkedAt.Add(time.Duration(c.Config.RetentionDays) * day),
		month:     tables.MonthOf(checkedAt),
		account:   c.Config.AccountID,
	}
	res := Result{RunID: r.id, CheckedAt: checkedAt.Format(time.RFC3339)}

	// The work stops StopMargin before the deadline; the run log entry
	// must be written by half the margin before it, leaving the rest for
	// the log line below. Without a deadline, the entry gets StopMargin.
	workCtx := ctx
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		var cancel context.CancelFunc
		workCtx, cancel = context.WithDeadline(ctx, deadline.Add(-c.StopMargin))
		defer cancel()
	}
	var written []Record // kept for Security Hub only
	if c.Findings != nil {
		r.keep = &written
	}
	err := c.run(workCtx, r, &res)
	if err == nil && c.Findings != nil {
		if ierr := c.importFindings(workCtx, written, &res); ierr != nil {
			res.FindingsError = truncate(ierr.Error(), 1000)
			c.Logger.Error("security hub import stopped", "run_id", res.RunID, "error", res.FindingsError)
		}
	}
	res.DurationMS = time.Since(start).Milliseconds()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("stopped %s before the invocation deadline: %w", c.StopMargin, err)
	}
	if c.Config.RunsTableName != "" && c.Runs != nil {
		logBy := time.Now().Add(c.StopMargin)
		if hasDeadline {
			logBy = deadline.Add(-c.StopMargin / 2)
		}
		logCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), logBy)
		// A run that cannot be logged must not look like a success.
		err = errors.Join(err, c.logRun(logCtx, ev, r, res, err))
		cancel()
	}

	attrs := []any{"run_id", res.RunID, "checked", res.Checked, "flagged", res.Flagged,
		"written", res.Written, "unaudited", res.Unaudited, "looked_up", res.LookedUp, "duration_ms", res.DurationMS,
		"previous_run_id", res.PreviousRunID, "new", res.New, "new_flagged", res.NewFlagged,
		"newly_flagged", res.NewlyFlagged, "resolved", res.Resolved, "gone", res.Gone}
	if c.Findings != nil {
		attrs = append(attrs, "findings_imported", res.FindingsImported, "findings_failed", res.FindingsFailed)
	}
	if !ev.ScheduledTime.IsZero() {
		// Which execution and attempt this was, to match the scheduler's own records.
		attrs = append(attrs, "scheduled_time", res.CheckedAt, "execution_id", ev.ExecutionID,
			"attempt_number", ev.AttemptNumber, "schedule_arn", ev.ScheduleARN)
	}
	if c.Config.AccountID == "" {
		attrs = append(attrs, metrics(c.Config.StackName, res, err == nil, start)...)
	} else {
		attrs = append(attrs, "account_id", c.Config.AccountID, "region", c.Config.Region, "replicas", res.Replicas)
	}
	if err != nil {
		err = fmt.Errorf("rotation check %s incomplete, %d rows written: %w", res.RunID, res.Written, err)
		c.Logger.Error("rotation check failed", append(attrs, "error", err.Error())...)
		return res, err
	}
	c.Logger.Info("rotation check finished", attrs...)
	return res, nil
}

// pipeline is one run in flight: the reader loads the previous run while
// the lister fetches the first pages, the lister judges pages and hands
// rows to the batcher, lookups complete the verdicts that need a version
// date, and writers send full batches. Counts are updated under mu.
type pipeline struct {
	c    *Checker
	r    run
	rows chan Record

	// base is the previous run, set before ready is closed; only the
	// lister uses it after that.
	base  *baseline
	ready chan struct{}
	// nameless: a listed secret had no name, so it may be one of the
	// previous run's, and no tombstone is written.
	nameless bool

	mu        sync.Mutex
	res       *Result
	unaudited []string
	listErr   error // a failed page stops the listing, not the writes of rows already judged

	writers chan struct{} // one token per writer in flight
}

// run does the work of Run, updating res as rows are written. The reader
// of the previous run, the lister, the batcher and the writers share one
// group: the first error stops them all, and it is the error returned.
func (c *Checker) run(ctx context.Context, r run, res *Result) error {
	p := &pipeline{c: c, r: r, rows: make(chan Record, pageSize), res: res, ready: make(chan struct{}),
		writers: make(chan struct{}, max(c.Writers, 1))}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// A run that cannot read its baseline writes nothing: rows
		// without a true change would mislead the history built on them.
		b, err := c.previousRun(gctx, r.id)
		if err != nil {
			return err
		}
		p.base = b
		if b != nil {
			p.mu.Lock()
			p.res.PreviousRunID = b.runID
			p.mu.Unlock()
		}
		close(p.ready)
		return nil
	})
	g.Go(func() error {
		defer close(p.rows)
		err := p.list(gctx)
		if err == nil && !p.nameless {
			err = p.bury(gctx)
		}
		if gctx.Err() == nil {
			p.listErr = err // the rows already judged are still written
			return nil
		}
		return err
	})
	g.Go(func() error { return p.batch(gctx, g) })
	err := errors.Join(g.Wait(), p.listErr)
	if n := len(p.unaudited); n > 0 {
		listed := strings.Join(p.unaudited, "; ")
		if res.Unaudited > n {
			listed += fmt.Sprintf("; and %d more", res.Unaudited-n)
		}
		err = errors.Join(err, fmt.Errorf("%d listed secrets were not audited: %s", res.Unaudited, listed))
	}
	return err
}

// list reads ListSecrets page by page and judges each selected secret,
// handing the ones that need their current version's date to at most
// Lookups concurrent lookups. Pages must be requested one after another
// (each needs the previous page's token), so one goroutine only fetches,
// as fast as pages come, while another judges the page before: the run's
// time is then the paging floor plus the last page's tail. It returns
// when every row has been handed on.
func (p *pipeline) list(ctx context.Context) error {
	pages := make(chan []smtypes.SecretListEntry, prefetch)
	var fetchErr error // set before pages closes
	var fetcher sync.WaitGroup
	fetcher.Go(func() {
		defer close(pages)
		paginator := secretsmanager.NewListSecretsPaginator(p.c.Secrets, &secretsmanager.ListSecretsInput{
			MaxResults: aws.Int32(pageSize),
			Filters: []smtypes.Filter{{
				Key:    smtypes.FilterNameStringTypeTagKey,
				Values: []string{p.c.Config.TagKey},
			}},
		})
		for paginator.HasMorePages() {
			page, err := paginator.NextPage(ctx)
			if err != nil {
				fetchErr = fmt.Errorf("list secrets: %w", err)
				return
			}
			select {
			case pages <- page.SecretList:
			case <-ctx.Done():
				return // the judging stopped: the run's error says why
			}
		}
	})
	defer fetcher.Wait()

	var lookups errgroup.Group
	lookups.SetLimit(max(p.c.Lookups, 1))
	defer lookups.Wait()
	// Judging needs the previous run; the fetcher goes on meanwhile, up
	// to prefetch pages ahead.
	select {
	case <-p.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	for page := range pages {
		for _, s := range page {
			if err := p.judge(ctx, s, &lookups); err != nil {
				return err
			}
		}
	}
	// A failed page ends the listing; the pages before it are still
	// judged and written.
	return errors.Join(lookups.Wait(), fetchErr)
}

// judge judges one listed secret and hands its row on, or hands it to a
// lookup when its age needs the current version's date.
func (p *pipeline) judge(ctx context.Context, s smtypes.SecretListEntry, lookups *errgroup.Group) error {
	if !Selected(s.Tags, p.c.Config.TagKey, p.c.Config.TagValue) {
		return nil
	}
	// Taken first: a secret listed but not audited is not gone.
	pr, had := p.base.take(aws.ToString(s.Name))
	if _, _, err := identify(s); err != nil {
		p.nameless = p.nameless || aws.ToString(s.Name) == ""
		p.unaudit(err.Error())
		return nil
	}
	f := FactsOf(s)
	if f.PrimaryRegion != "" && f.PrimaryRegion != p.r.policy.Region && slices.Contains(p.c.Config.AuditedRegions, f.PrimaryRegion) {
		p.mu.Lock()
		p.res.Replicas++ // judged once, by its primary's region
		p.mu.Unlock()
		return nil
	}
	v := Judge(f, p.r.checkedAt, p.r.policy)
	if created, ok := pr.reuse(f); v.NeedsVersion && ok {
		v = v.WithCurrentVersion(created, p.r.checkedAt, p.r.policy.MaxAgeDays)
	}
	if !v.NeedsVersion {
		return p.send(ctx, p.record(s, f, v, pr, had))
	}
	lookups.Go(func() error {
		created, err := p.c.currentVersion(ctx, aws.ToString(s.ARN))
		p.mu.Lock()
		p.res.LookedUp++
		p.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return nil // the run is stopping; its error says why
			}
			p.unaudit(fmt.Sprintf("secret %s: %v", aws.ToString(s.Name), err))
			return nil
		}
		v := v.WithCurrentVersion(created, p.r.checkedAt, p.r.policy.MaxAgeDays)
		return p.send(ctx, p.record(s, f, v, pr, had))
	})
	return nil
}

// record is a secret's row, with what changed since its previous row
// (had is false when the previous run had none).
func (p *pipeline) record(s smtypes.SecretListEntry, f Facts, v Verdict, pr prior, had bool) Record {
	rec := newRecord(s, f, v, p.r)
	rec.Change, rec.Changed = compare(pr, had, f, v, p.base.judgedAt())
	rec.FirstSeen = p.base.firstSeen(pr, had, rec.CheckedAt)
	if tables.Changed(rec.Change) {
		rec.ChangeMonth = p.r.month
	}
	return rec
}

// bury hands on a tombstone for each secret of the previous run that this
// run did not list, with the secret's ARN (its finding's ID). Only a listing that completed may: one cut short
// would bury every secret it did not reach.
func (p *pipeline) bury(ctx context.Context) error {
	for _, name := range p.base.gone() {
		checkedAt := p.r.checkedAt.UTC().Format(time.RFC3339)
		rec := Record{
			SecretName: name, SecretARN: p.base.secrets[name].arn, RunID: p.r.id, CheckedAt: checkedAt, MaxAgeDays: p.r.policy.MaxAgeDays,
			Change: tables.ChangeGone, ChangeMonth: p.r.month,
			FirstSeen: p.base.firstSeen(p.base.secrets[name], true, checkedAt), ExpiresAt: p.r.expiresAt.Unix(),
		}
		if p.r.account != "" {
			// Organization mode: the tombstone is the unit's, as its rows are.
			rec.AccountID, rec.Region = p.r.account, p.r.policy.Region
		}
		if err := p.send(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// send hands a row to the batcher, unless the run is stopping.
func (p *pipeline) send(ctx context.Context, rec Record) error {
	select {
	case p.rows <- rec:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unaudit records a secret that could not be given a row.
func (p *pipeline) unaudit(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Unaudited++
	if len(p.unaudited) < maxReported {
		p.unaudited = append(p.unaudited, why)
	}
}
