// Package audit runs one rotation check: it lists the secrets carrying the
// configured tag, classifies each by the age of its last rotation, and writes
// one audit row per secret to DynamoDB, page by page.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

const (
	// pageSize is ListSecrets' maximum MaxResults.
	pageSize = 100
	// batchSize is BatchWriteItem's maximum number of requests.
	batchSize = 25
	// maxWriteAttempts bounds the BatchWriteItem calls for one batch while
	// DynamoDB keeps returning UnprocessedItems.
	maxWriteAttempts = 8
	// baseBackoff and maxBackoff shape the wait between those attempts: at
	// most 50 ms, 100 ms, 200 ms, ... up to 4 s, about 6 s in all.
	baseBackoff = 50 * time.Millisecond
	maxBackoff  = 4 * time.Second
	// DefaultStopMargin is how long before the invocation deadline a run stops,
	// so it can report what it wrote instead of being killed mid-batch.
	DefaultStopMargin = 2 * time.Second
)

// BatchWriter is the part of the DynamoDB client the check uses.
type BatchWriter interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var (
	_ BatchWriter                         = (*dynamodb.Client)(nil)
	_ secretsmanager.ListSecretsAPIClient = (*secretsmanager.Client)(nil)
)

// Result is what an invocation returns.
type Result struct {
	RunID      string `json:"run_id"`
	Checked    int    `json:"checked"`
	Flagged    int    `json:"flagged"`
	Written    int    `json:"written"`
	CheckedAt  string `json:"checked_at"`
	DurationMS int64  `json:"duration_ms"`
}

// Checker runs rotation checks. Build it with New; tests may then replace
// Now, Backoff and StopMargin.
type Checker struct {
	Secrets secretsmanager.ListSecretsAPIClient
	Table   BatchWriter
	Config  Config
	Logger  *slog.Logger
	// Now is the clock; every row of a run carries the same checked_at.
	Now func() time.Time
	// Backoff spaces the retries of UnprocessedItems.
	Backoff retry.BackoffDelayer
	// StopMargin is how long before the context's deadline a run gives up.
	StopMargin time.Duration
}

// New returns a Checker with the real clock and exponential backoff with
// full jitter.
func New(secrets secretsmanager.ListSecretsAPIClient, table BatchWriter, cfg Config, logger *slog.Logger) *Checker {
	return &Checker{
		Secrets:    secrets,
		Table:      table,
		Config:     cfg,
		Logger:     logger,
		Now:        time.Now,
		Backoff:    retry.BackoffDelayerFunc(fullJitter),
		StopMargin: DefaultStopMargin,
	}
}

// fullJitter waits a random time up to baseBackoff doubled per attempt,
// capped at maxBackoff, as AWS recommends for UnprocessedItems. The SDK's
// ExponentialJitterBackoff starts at one second and stops jittering once it
// reaches its cap, which suits request retries rather than this loop.
func fullJitter(attempt int, _ error) (time.Duration, error) {
	ceiling := min(baseBackoff<<min(attempt-1, 16), maxBackoff)
	return rand.N(ceiling + 1), nil
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

// Handle validates the payload before any AWS call, then runs the check.
func (c *Checker) Handle(ctx context.Context, payload []byte) (Result, error) {
	ev, err := ParseEvent(payload)
	if err != nil {
		c.Logger.Error("event rejected", "error", err.Error())
		return Result{}, err
	}
	return c.Run(ctx, ev)
}

// Run lists, classifies and records every selected secret, streaming one page
// at a time. On error the Result still says what was written; because the
// run ID comes from the scheduled time, running the same event again
// rewrites the same rows.
func (c *Checker) Run(ctx context.Context, ev Event) (Result, error) {
	start := time.Now()
	now := c.Now().UTC()
	checkedAt := CheckedAt(ev, now)
	r := run{
		id:         RunID(ev, now),
		checkedAt:  checkedAt,
		maxAgeDays: c.Config.MaxAgeDays,
		expiresAt:  checkedAt.Add(time.Duration(c.Config.RetentionDays) * day),
	}
	res := Result{RunID: r.id, CheckedAt: checkedAt.Format(time.RFC3339)}

	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-c.StopMargin))
		defer cancel()
	}
	err := c.run(ctx, r, &res)
	res.DurationMS = time.Since(start).Milliseconds()

	attrs := []any{"run_id", res.RunID, "checked", res.Checked, "flagged", res.Flagged,
		"written", res.Written, "duration_ms", res.DurationMS}
	if !ev.ScheduledTime.IsZero() {
		// Which execution and attempt this was, to match the scheduler's own records.
		attrs = append(attrs, "scheduled_time", res.CheckedAt, "execution_id", ev.ExecutionID,
			"attempt_number", ev.AttemptNumber, "schedule_arn", ev.ScheduleARN)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("stopped %s before the invocation deadline: %w", c.StopMargin, err)
		}
		err = fmt.Errorf("rotation check %s incomplete, %d rows written: %w", res.RunID, res.Written, err)
		c.Logger.Error("rotation check failed", append(attrs, "error", err.Error())...)
		return res, err
	}
	c.Logger.Info("rotation check finished", attrs...)
	return res, nil
}

// run does the work of Run, updating res as rows are written. Rows wait in
// a batch of at most batchSize across pages, so memory stays flat however
// many secrets there are.
func (c *Checker) run(ctx context.Context, r run, res *Result) error {
	pages := secretsmanager.NewListSecretsPaginator(c.Secrets, &secretsmanager.ListSecretsInput{
		MaxResults: aws.Int32(pageSize),
		Filters: []smtypes.Filter{{
			Key:    smtypes.FilterNameStringTypeTagKey,
			Values: []string{c.Config.TagKey},
		}},
	})
	b := batch{names: make(map[string]struct{}, batchSize)}
	var unusable []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list secrets: %w", err)
		}
		for _, s := range page.SecretList {
			if !Selected(s.Tags, c.Config.TagKey, c.Config.TagValue) {
				continue
			}
			rec, err := newRecord(s, r)
			if err != nil {
				unusable = append(unusable, err.Error())
				continue
			}
			item, err := attributevalue.MarshalMap(rec)
			if err != nil {
				return fmt.Errorf("marshal audit row for %s: %w", rec.SecretName, err)
			}
			if !b.add(rec.SecretName, item) {
				continue // listed twice (ListSecrets is eventually consistent)
			}
			res.Checked++
			if rec.Status == StatusNeedsRotation {
				res.Flagged++
			}
			if len(b.rows) == batchSize {
				if err := c.flush(ctx, &b, res); err != nil {
					return err
				}
			}
		}
	}
	if err := c.flush(ctx, &b, res); err != nil {
		return err
	}
	if len(unusable) > 0 {
		return fmt.Errorf("%d listed secrets were not audited: %s", len(unusable), strings.Join(unusable, "; "))
	}
	return nil
}

// batch collects the rows of the next BatchWriteItem call. DynamoDB rejects a
// batch with two requests for one key, so a name is added at most once. A
// secret listed twice in different batches (ListSecrets is eventually
// consistent) is written twice under the same key, which is harmless, and
// counted twice; remembering every name would cost memory per secret.
type batch struct {
	rows  []dbtypes.WriteRequest
	names map[string]struct{}
}

// add appends a row unless the batch already has one for name.
func (b *batch) add(name string, item map[string]dbtypes.AttributeValue) bool {
	if _, dup := b.names[name]; dup {
		return false
	}
	b.names[name] = struct{}{}
	b.rows = append(b.rows, dbtypes.WriteRequest{PutRequest: &dbtypes.PutRequest{Item: item}})
	return true
}

// flush writes the batch, if it has rows, and empties it.
func (c *Checker) flush(ctx context.Context, b *batch, res *Result) error {
	if len(b.rows) == 0 {
		return nil
	}
	left, err := c.writeBatch(ctx, b.rows)
	res.Written += len(b.rows) - left
	if err != nil {
		return fmt.Errorf("write audit batch: %w", err)
	}
	b.rows = make([]dbtypes.WriteRequest, 0, batchSize)
	clear(b.names)
	return nil
}

// writeBatch sends one BatchWriteItem and retries its UnprocessedItems with
// backoff. It returns how many of the rows are still unwritten.
func (c *Checker) writeBatch(ctx context.Context, rows []dbtypes.WriteRequest) (int, error) {
	for attempt := 1; ; attempt++ {
		out, err := c.Table.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]dbtypes.WriteRequest{c.Config.TableName: rows},
		})
		if err != nil {
			return len(rows), err
		}
		rows = out.UnprocessedItems[c.Config.TableName]
		if len(rows) == 0 {
			return 0, nil
		}
		if attempt == maxWriteAttempts {
			return len(rows), fmt.Errorf("%d rows still unprocessed after %d attempts", len(rows), attempt)
		}
		delay, err := c.Backoff.BackoffDelay(attempt, nil)
		if err != nil {
			return len(rows), fmt.Errorf("backoff: %w", err)
		}
		if err := sleep(ctx, delay); err != nil {
			return len(rows), err
		}
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
