package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

const (
	// sendBatch is SendMessageBatch's maximum number of entries.
	sendBatch = 10
	// writeBatch is BatchWriteItem's maximum number of requests.
	writeBatch = 25
	// DefaultCalls bounds the coordinator's calls in flight (unit writes,
	// then sends): enough to hide their round trips, few enough for the
	// APIs' rate limits.
	DefaultCalls = 8
	// attempts bounds the calls for one batch whose entries keep failing
	// or coming back unprocessed.
	attempts = 8
)

// AccountLister is the part of the Organizations client the coordinator uses.
type AccountLister = organizations.ListAccountsAPIClient

// Sender is the part of the SQS client the coordinator uses.
type Sender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// PlanTables is the part of the DynamoDB client the coordinator uses.
type PlanTables interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var (
	_ AccountLister = (*organizations.Client)(nil)
	_ Sender        = (*sqs.Client)(nil)
	_ PlanTables    = (*dynamodb.Client)(nil)
)

// Coordinator starts an organization run. Build it with NewCoordinator;
// tests may then replace Now, Sleep and Calls.
type Coordinator struct {
	Config   Config
	Accounts AccountLister // used only when Config.Organization
	Tables   PlanTables
	Queue    Sender
	Logger   *slog.Logger
	// Now is the clock of manual runs and of the scheduled time's check.
	Now func() time.Time
	// Sleep waits between the attempts of a batch.
	Sleep func(context.Context, time.Duration) error
	// Calls bounds the calls in flight.
	Calls int
}

// NewCoordinator returns a Coordinator with the real clock and default bounds.
func NewCoordinator(cfg Config, accounts AccountLister, tbl PlanTables, queue Sender, logger *slog.Logger) *Coordinator {
	return &Coordinator{Config: cfg, Accounts: accounts, Tables: tbl, Queue: queue, Logger: logger,
		Now: time.Now, Sleep: sleep, Calls: DefaultCalls}
}

// Unit is one account and region of a run.
type Unit struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// Message is what the coordinator sends for each unit: the run it belongs
// to and when the run started (the completing unit records its duration).
type Message struct {
	RunID     string `json:"run_id"`
	Account   string `json:"account"`
	Region    string `json:"region"`
	StartedMS int64  `json:"started_ms"`
}

// Plan is what the coordinator returns.
type Plan struct {
	RunID      string `json:"run_id"`
	CheckedAt  string `json:"checked_at"`
	Accounts   int    `json:"accounts"`
	Regions    int    `json:"regions"`
	Units      int    `json:"units"`
	Sent       int    `json:"sent"`
	Resumed    bool   `json:"resumed,omitempty"` // the run's plan existed: a retried fire
	DurationMS int64  `json:"duration_ms"`
}

// Handle validates the scheduler's event as audit.Checker does, then
// starts the run.
func (c *Coordinator) Handle(ctx context.Context, payload []byte) (Plan, error) {
	ev, err := audit.ParseEvent(payload)
	if err == nil {
		err = audit.NotAhead(ev, c.Now(), c.Config.Audit.FlexibleWindow)
	}
	if err != nil {
		c.Logger.Error("event rejected", "error", err.Error())
		return Plan{}, err
	}
	return c.Start(ctx, ev)
}

// Start resolves the units, writes each as pending in the units table and
// the run's entry with the number expected, then sends one message per
// unit. A retried fire (the same scheduled time, so the same run ID) finds
// the entry and sends the messages again: a unit already finished is not
// counted twice (see Worker).
func (c *Coordinator) Start(ctx context.Context, ev audit.Event) (Plan, error) {
	start := time.Now()
	now := c.Now().UTC()
	checkedAt := audit.CheckedAt(ev, now)
	p := Plan{RunID: audit.RunID(ev, now), CheckedAt: checkedAt.Format(time.RFC3339), Regions: len(c.Config.Regions)}
	err := c.start(ctx, ev, checkedAt, start, &p)
	p.DurationMS = time.Since(start).Milliseconds()
	attrs := []any{"run_id", p.RunID, "accounts", p.Accounts, "regions", p.Regions, "units", p.Units, "sent", p.Sent,
		"resumed", p.Resumed, "duration_ms", p.DurationMS}
	if err != nil {
		err = fmt.Errorf("organization run %s not started, %d of %d units sent: %w", p.RunID, p.Sent, p.Units, err)
		c.Logger.Error("organization run failed to start", append(attrs, "error", err.Error())...)
		return p, err
	}
	c.Logger.Info("organization run started", attrs...)
	return p, nil
}

func (c *Coordinator) start(ctx context.Context, ev audit.Event, checkedAt, start time.Time, p *Plan) error {
	accounts, err := c.accounts(ctx)
	if err != nil {
		return err
	}
	units := Units(accounts, c.Config.Regions)
	p.Accounts, p.Units = len(accounts), len(units)
	key := runKey(checkedAt, p.RunID)
	got, err := c.Tables.GetItem(ctx, &dynamodb.GetItemInput{TableName: &c.Config.Audit.RunsTableName, Key: key,
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("#u"),
		ExpressionAttributeNames: map[string]string{"#u": tables.UnitsExpected}})
	if err != nil {
		return fmt.Errorf("read run log entry: %w", err)
	}
	expiresAt := checkedAt.Add(time.Duration(c.Config.Audit.RetentionDays) * 24 * time.Hour).Unix()
	if p.Resumed = len(got.Item) > 0; !p.Resumed {
		if err := c.writeUnits(ctx, p.RunID, units, expiresAt); err != nil {
			return err
		}
		if err := c.putEntry(ctx, ev, checkedAt, p, expiresAt); err != nil {
			return err
		}
	}
	if len(units) == 0 {
		return c.completeEmpty(ctx, key, start)
	}
	msgs := make([]Message, len(units))
	for i, u := range units {
		msgs[i] = Message{RunID: p.RunID, Account: u.Account, Region: u.Region, StartedMS: start.UnixMilli()}
	}
	return c.send(ctx, msgs, &p.Sent)
}

// Units are every account in every region, in account then region order.
func Units(accounts, regions []string) []Unit {
	out := make([]Unit, 0, len(accounts)*len(regions))
	for _, a := range accounts {
		for _, r := range regions {
			out = append(out, Unit{Account: a, Region: r})
		}
	}
	return out
}

// accounts are the configured accounts, or every ACTIVE account
// Organizations lists, page by page (a page may be empty and still have a
// next one), sorted.
func (c *Coordinator) accounts(ctx context.Context) ([]string, error) {
	if !c.Config.Organization {
		return c.Config.Accounts, nil
	}
	var out []string
	pages := organizations.NewListAccountsPaginator(c.Accounts, &organizations.ListAccountsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the organization's accounts (the hub must be the management account or a delegated administrator): %w", err)
		}
		for _, a := range page.Accounts {
			if active(a) {
				out = append(out, aws.ToString(a.Id))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// active reports whether an account is ACTIVE, by State, or by the older
// Status where an endpoint sends no State.
func active(a orgtypes.Account) bool {
	if a.State != "" {
		return a.State == orgtypes.AccountStateActive
	}
	return a.Status == orgtypes.AccountStatusActive
}

// runKey is the key of a run's entry in the run log.
func runKey(checkedAt time.Time, runID string) map[string]dbtypes.AttributeValue {
	return map[string]dbtypes.AttributeValue{
		tables.Month: &dbtypes.AttributeValueMemberS{Value: tables.MonthOf(checkedAt)},
		tables.RunID: &dbtypes.AttributeValueMemberS{Value: runID},
	}
}

// writeUnits writes every unit as pending, 25 a call, Calls at a time.
func (c *Coordinator) writeUnits(ctx context.Context, runID string, units []Unit, expiresAt int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Calls, 1))
	for batch := range slices.Chunk(units, writeBatch) {
		reqs := make([]dbtypes.WriteRequest, len(batch))
		for i, u := range batch {
			reqs[i] = dbtypes.WriteRequest{PutRequest: &dbtypes.PutRequest{Item: map[string]dbtypes.AttributeValue{
				tables.RunID:       &dbtypes.AttributeValueMemberS{Value: runID},
				tables.Unit:        &dbtypes.AttributeValueMemberS{Value: tables.UnitOf(u.Account, u.Region)},
				tables.UnitAccount: &dbtypes.AttributeValueMemberS{Value: u.Account},
				tables.UnitRegion:  &dbtypes.AttributeValueMemberS{Value: u.Region},
				tables.UnitState:   &dbtypes.AttributeValueMemberS{Value: tables.UnitPending},
				"expires_at":       &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(expiresAt, 10)},
			}}}
		}
		g.Go(func() error { return c.writeBatch(gctx, reqs) })
	}
	return g.Wait()
}

// writeBatch writes one batch of units, retrying what comes back
// unprocessed.
func (c *Coordinator) writeBatch(ctx context.Context, reqs []dbtypes.WriteRequest) error {
	table := c.Config.UnitsTable
	for attempt := 1; ; attempt++ {
		out, err := c.Tables.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dbtypes.WriteRequest{table: reqs}})
		if err != nil {
			return fmt.Errorf("write units to %s: %w", table, err)
		}
		if reqs = out.UnprocessedItems[table]; len(reqs) == 0 {
			return nil
		}
		if attempt == attempts {
			return fmt.Errorf("write units to %s: %d still unprocessed after %d attempts", table, len(reqs), attempt)
		}
		if err := c.Sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// entry is an organization run's run log entry as the coordinator writes
// it: audit.RunEntry's attributes, with the counts at zero, and the plan.
type entry struct {
	Month         string `dynamodbav:"month"`
	RunID         string `dynamodbav:"run_id"`
	CheckedAt     string `dynamodbav:"checked_at"`
	ScheduledTime string `dynamodbav:"scheduled_time,omitempty"`
	Checked       int    `dynamodbav:"checked"`
	Flagged       int    `dynamodbav:"flagged"`
	Written       int    `dynamodbav:"written"`
	Unaudited     int    `dynamodbav:"unaudited"`
	LookedUp      int    `dynamodbav:"looked_up"`
	Replicas      int    `dynamodbav:"replicas"`
	Complete      bool   `dynamodbav:"complete"`
	MaxAgeDays    int    `dynamodbav:"max_age_days"`
	ExpiresAt     int64  `dynamodbav:"expires_at"`
	UnitsExpected int    `dynamodbav:"units_expected"`
	UnitsDone     int    `dynamodbav:"units_done"`
	UnitsFailed   int    `dynamodbav:"units_failed"`
	Accounts      int    `dynamodbav:"accounts"`
	Regions       string `dynamodbav:"regions"`
}

// putEntry writes the run's entry unless it exists: two coordinators of
// one fire must not reset each other's counts.
func (c *Coordinator) putEntry(ctx context.Context, ev audit.Event, checkedAt time.Time, p *Plan, expiresAt int64) error {
	e := entry{Month: tables.MonthOf(checkedAt), RunID: p.RunID, CheckedAt: p.CheckedAt, MaxAgeDays: c.Config.Audit.MaxAgeDays,
		ExpiresAt: expiresAt, UnitsExpected: p.Units, Accounts: p.Accounts, Regions: strings.Join(c.Config.Regions, ",")}
	if !ev.ScheduledTime.IsZero() {
		e.ScheduledTime = ev.ScheduledTime.UTC().Format(time.RFC3339)
	}
	item, err := attributevalue.MarshalMap(e)
	if err != nil {
		return fmt.Errorf("marshal run log entry: %w", err)
	}
	_, err = c.Tables.PutItem(ctx, &dynamodb.PutItemInput{TableName: &c.Config.Audit.RunsTableName, Item: item,
		ConditionExpression: aws.String("attribute_not_exists(run_id)")})
	var exists *dbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("write run log entry to %s: %w", c.Config.Audit.RunsTableName, err)
	}
	return nil
}

// completeEmpty completes a run with no unit at once (an organization
// with no ACTIVE account, or none listed).
func (c *Coordinator) completeEmpty(ctx context.Context, key map[string]dbtypes.AttributeValue, start time.Time) error {
	_, err := c.Tables.UpdateItem(ctx, completion(c.Config.Audit.RunsTableName, key, time.Since(start)))
	var done *dbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &done) {
		return fmt.Errorf("complete the empty run: %w", err)
	}
	return nil
}

// send sends one message per unit, 10 a call, Calls at a time, retrying
// the entries a call reports failed.
func (c *Coordinator) send(ctx context.Context, msgs []Message, sent *int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Calls, 1))
	counts := make(chan int, (len(msgs)+sendBatch-1)/sendBatch)
	for batch := range slices.Chunk(msgs, sendBatch) {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
		for i, m := range batch {
			body, err := json.Marshal(m)
			if err != nil {
				return fmt.Errorf("marshal unit message: %w", err)
			}
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))}
		}
		g.Go(func() error {
			n, err := c.sendBatch(gctx, entries)
			counts <- n
			return err
		})
	}
	err := g.Wait()
	close(counts)
	for n := range counts {
		*sent += n
	}
	return err
}

// sendBatch sends one batch, retrying the failed entries; it returns how
// many were sent.
func (c *Coordinator) sendBatch(ctx context.Context, entries []sqstypes.SendMessageBatchRequestEntry) (int, error) {
	total := len(entries)
	for attempt := 1; ; attempt++ {
		out, err := c.Queue.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &c.Config.QueueURL, Entries: entries})
		if err != nil {
			return total - len(entries), fmt.Errorf("send unit messages: %w", err)
		}
		if len(out.Failed) == 0 {
			return total, nil
		}
		failed := map[string]bool{}
		var why string
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = true
			why = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
		}
		entries = slices.DeleteFunc(entries, func(e sqstypes.SendMessageBatchRequestEntry) bool { return !failed[aws.ToString(e.Id)] })
		if attempt == attempts {
			return total - len(entries), fmt.Errorf("send unit messages: %d failed after %d attempts (%s)", len(entries), attempt, why)
		}
		if err := c.Sleep(ctx, backoff(attempt)); err != nil {
			return total - len(entries), err
		}
	}
}

// backoff is full jitter on 50 ms doubling, capped at 4 s, as the audit's
// retries.
func backoff(attempt int) time.Duration {
	ceiling := min(50*time.Millisecond<<(attempt-1), 4*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// sleep waits d, or until ctx is done.
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
