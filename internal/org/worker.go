package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/hubimport"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// RoleAssumer is the part of the STS client the worker uses.
type RoleAssumer interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// UnitTables is the part of the DynamoDB client the worker uses: the
// audit's writes, and the unit's bookkeeping.
type UnitTables interface {
	audit.Tables
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var (
	_ RoleAssumer = (*sts.Client)(nil)
	_ UnitTables  = (*dynamodb.Client)(nil)
)

// Worker audits the units the queue delivers. Build it with NewWorker;
// tests may then replace Now and Prepare.
type Worker struct {
	Config Config
	Roles  RoleAssumer
	// SecretsFor is a Secrets Manager client of one region acting with a
	// member account's assumed credentials.
	SecretsFor func(region string, creds aws.Credentials) audit.Secrets
	Tables     UnitTables
	Logger     *slog.Logger
	// Now is the clock the completing unit records the run's end by.
	Now func() time.Time
	// Prepare adjusts each unit's Checker before it runs (tests: backoff).
	Prepare func(*audit.Checker)
	// Sleep waits between the attempts of a conflicting transaction.
	Sleep func(context.Context, time.Duration) error
	// Findings imports each unit's Security Hub findings into the hub's
	// own account and region (Config.HubAccountID, the function's
	// region), with the worker's credentials: the member role may not
	// import, and Security Hub takes a default-product finding only from
	// the account it names. Nil (SECURITY_HUB_FINDINGS off) makes no
	// Security Hub call. The units of a batch take turns with it, so one
	// quota holds across them (hubimport.Importer is not safe for
	// concurrent use).
	Findings audit.Importer

	importing sync.Mutex
}

// turns is the Worker's importer, one unit at a time.
type turns struct{ w *Worker }

func (t turns) Import(ctx context.Context, fs []findings.SecurityFinding) (hubimport.Result, error) {
	t.w.importing.Lock()
	defer t.w.importing.Unlock()
	return t.w.Findings.Import(ctx, fs)
}

// NewWorker returns a Worker with the real clock.
func NewWorker(cfg Config, roles RoleAssumer, secretsFor func(string, aws.Credentials) audit.Secrets, tbl UnitTables, logger *slog.Logger) *Worker {
	return &Worker{Config: cfg, Roles: roles, SecretsFor: secretsFor, Tables: tbl, Logger: logger, Now: time.Now, Sleep: sleep}
}

// Handle audits every unit of an SQS batch at once and reports the ones
// that failed, so the queue retries only those (ReportBatchItemFailures).
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	var (
		mu   sync.Mutex
		resp = events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		wg   sync.WaitGroup
		s    = &sessions{w: w}
	)
	for _, rec := range ev.Records {
		wg.Go(func() {
			if err := w.unit(ctx, rec, s); err != nil {
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return resp
}

// unit audits one unit. It returns an error when the queue should deliver
// the message again (or, on its last receive, dead-letter it).
func (w *Worker) unit(ctx context.Context, rec events.SQSMessage, s *sessions) error {
	var m Message
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil || m.RunID == "" || m.Account == "" || m.Region == "" {
		w.Logger.Error("unit message rejected", "message_id", rec.MessageId, "body", rec.Body)
		return errors.New("not a unit message")
	}
	at, err := tables.ParseRunID(m.RunID)
	if err != nil {
		w.Logger.Error("unit message rejected", "message_id", rec.MessageId, "error", err.Error())
		return err
	}
	receives, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	log := w.Logger.With("run_id", m.RunID, "account_id", m.Account, "region", m.Region, "receive", receives)
	u := unitRun{m: m, at: at, key: runKey(at, m.RunID)}

	state, err := w.state(ctx, u)
	switch {
	case err != nil:
		log.Error("unit not started", "error", err.Error())
		return err
	case state != tables.UnitPending:
		// Delivered again after it finished: counted once already.
		log.Info("unit already finished", "state", state)
		return w.complete(ctx, u)
	}

	creds, err := s.assume(ctx, m.Account, m.RunID)
	if accessDenied(err) {
		// The role is missing or does not trust the hub: no retry will
		// change that. The account is not reporting; the others go on.
		err = fmt.Errorf("assume %s: %w", w.roleARN(m.Account), err)
		log.Warn("account not reporting", "error", err.Error())
		return w.finish(ctx, u, audit.Result{}, err, log)
	}
	var res audit.Result
	if err == nil {
		// The check's own log line names the run, account and region.
		c := audit.New(w.SecretsFor(m.Region, creds), w.Tables, w.unitConfig(m), w.Logger.With("receive", receives))
		c.Runs = nil // the run's entry is the coordinator's
		c.UnitDone = func(ctx context.Context, runID string) (bool, error) { return w.doneIn(ctx, m, runID) }
		if w.Findings != nil {
			c.Findings = turns{w}
		}
		if w.Prepare != nil {
			w.Prepare(c)
		}
		res, err = c.Run(ctx, audit.Event{ScheduledTime: at})
	} else {
		err = fmt.Errorf("assume %s: %w", w.roleARN(m.Account), err)
	}
	if err == nil {
		return w.finish(ctx, u, res, nil, log)
	}
	if receives < w.Config.MaxReceives {
		log.Warn("unit failed; the queue will deliver it again", "error", err.Error())
		return err
	}
	// The last receive: record the unit as failed, so the run can
	// complete, and let the message be dead-lettered.
	log.Error("unit failed on its last attempt", "error", err.Error())
	return errors.Join(err, w.finish(ctx, u, res, err, log))
}

// unitRun is one unit being audited.
type unitRun struct {
	m   Message
	at  time.Time
	key map[string]dbtypes.AttributeValue // its run's entry
}

func (u unitRun) unitKey() map[string]dbtypes.AttributeValue {
	return map[string]dbtypes.AttributeValue{
		tables.RunID: &dbtypes.AttributeValueMemberS{Value: u.m.RunID},
		tables.Unit:  &dbtypes.AttributeValueMemberS{Value: tables.UnitOf(u.m.Account, u.m.Region)},
	}
}

// unitConfig is the hub's audit configuration for one unit: rows to the
// organization table, with the unit's account and region, compared with
// the same unit's rows of the last complete run in which it was done
// (found in the run log, to which the unit writes no entry of its own,
// and the units table: see audit.Checker.UnitDone), and findings
// imported into the hub's account and region.
func (w *Worker) unitConfig(m Message) audit.Config {
	cfg := w.Config.Audit
	cfg.TableName = w.Config.OrgTable
	cfg.HubAccountID, cfg.HubRegion = w.Config.HubAccountID, w.Config.Audit.Region
	cfg.Region = m.Region
	cfg.AccountID = m.Account
	cfg.AuditedRegions = w.Config.Regions
	return cfg
}

func (w *Worker) roleARN(account string) string {
	return "arn:aws:iam::" + account + ":role/" + w.Config.MemberRoleName
}

// state is the unit's state in the units table; a unit the coordinator
// did not plan is an error.
func (w *Worker) state(ctx context.Context, u unitRun) (string, error) {
	out, err := w.Tables.GetItem(ctx, &dynamodb.GetItemInput{TableName: &w.Config.UnitsTable, Key: u.unitKey(),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("#s"),
		ExpressionAttributeNames: map[string]string{"#s": tables.UnitState}})
	if err != nil {
		return "", fmt.Errorf("read unit: %w", err)
	}
	var item struct {
		State string `dynamodbav:"state"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil || item.State == "" {
		return "", fmt.Errorf("unit %s is not in run %s's plan", tables.UnitOf(u.m.Account, u.m.Region), u.m.RunID)
	}
	return item.State, nil
}

// doneIn reports whether the unit of m was done in the run runID: its
// item in the units table says so. A unit not in that run's plan was not.
func (w *Worker) doneIn(ctx context.Context, m Message, runID string) (bool, error) {
	prev := m
	prev.RunID = runID
	out, err := w.Tables.GetItem(ctx, &dynamodb.GetItemInput{TableName: &w.Config.UnitsTable, Key: unitRun{m: prev}.unitKey(),
		ProjectionExpression: aws.String("#s"), ExpressionAttributeNames: map[string]string{"#s": tables.UnitState}})
	if err != nil {
		return false, fmt.Errorf("read unit: %w", err)
	}
	var item struct {
		State string `dynamodbav:"state"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		return false, fmt.Errorf("read unit: %w", err)
	}
	return item.State == tables.UnitDone, nil
}

// finish records the unit as done (runErr nil) or failed, with its counts,
// and adds them to the run's entry, in one transaction that holds only
// while the unit is pending: a unit delivered twice is counted once. Then
// it tries to complete the run.
func (w *Worker) finish(ctx context.Context, u unitRun, res audit.Result, runErr error, log *slog.Logger) error {
	state, failed := tables.UnitDone, 0
	values := map[string]dbtypes.AttributeValue{
		":pending": &dbtypes.AttributeValueMemberS{Value: tables.UnitPending},
		":at":      &dbtypes.AttributeValueMemberS{Value: w.Now().UTC().Format(time.RFC3339)},
		":one":     num(1),
		":c":       num(res.Checked), ":f": num(res.Flagged), ":w": num(res.Written),
		":u": num(res.Unaudited), ":l": num(res.LookedUp), ":r": num(res.Replicas),
	}
	set := "SET #s = :s, #fin = :at, checked = :c, flagged = :f, written = :w, unaudited = :u, looked_up = :l, replicas = :r"
	add := "ADD #done :one, #failed :failed, checked :c, flagged :f, written :w, unaudited :u, looked_up :l, replicas :r"
	if w.Findings != nil {
		// The run log says what the run imported, as a single-account run's does.
		values[":fi"], values[":ff"] = num(res.FindingsImported), num(res.FindingsFailed)
		set += ", findings_imported = :fi, findings_failed = :ff"
		add += ", findings_imported :fi, findings_failed :ff"
	}
	if runErr != nil {
		state, failed = tables.UnitFailed, 1
		set += ", #e = :e"
		values[":e"] = &dbtypes.AttributeValueMemberS{Value: truncate(runErr.Error(), 1000)}
	}
	values[":s"] = &dbtypes.AttributeValueMemberS{Value: state}
	values[":failed"] = num(failed)
	unitValues := pick(values, ":pending", ":at", ":c", ":f", ":w", ":u", ":l", ":r", ":s", ":e", ":fi", ":ff")
	runValues := pick(values, ":one", ":failed", ":c", ":f", ":w", ":u", ":l", ":r", ":fi", ":ff")
	unitNames := map[string]string{"#s": tables.UnitState, "#fin": tables.UnitFinishedAt}
	if runErr != nil {
		unitNames["#e"] = tables.UnitError
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []dbtypes.TransactWriteItem{
		{Update: &dbtypes.Update{
			TableName: &w.Config.UnitsTable, Key: u.unitKey(),
			UpdateExpression:          aws.String(set),
			ConditionExpression:       aws.String("#s = :pending"),
			ExpressionAttributeNames:  unitNames,
			ExpressionAttributeValues: unitValues,
		}},
		{Update: &dbtypes.Update{
			TableName: &w.Config.Audit.RunsTableName, Key: u.key,
			UpdateExpression:          aws.String(add),
			ConditionExpression:       aws.String("attribute_exists(run_id)"),
			ExpressionAttributeNames:  map[string]string{"#done": tables.UnitsDone, "#failed": tables.UnitsFailed},
			ExpressionAttributeValues: runValues,
		}},
	}}
	err := w.transact(ctx, in)
	var canceled *dbtypes.TransactionCanceledException
	switch {
	case errors.As(err, &canceled) && len(canceled.CancellationReasons) > 0 &&
		aws.ToString(canceled.CancellationReasons[0].Code) == "ConditionalCheckFailed":
		log.Info("unit already finished by another delivery")
	case err != nil:
		return fmt.Errorf("record unit %s: %w", state, err)
	default:
		log.Info("unit finished", "state", state, "checked", res.Checked, "flagged", res.Flagged, "replicas", res.Replicas)
	}
	return w.complete(ctx, u)
}

// transact runs the unit's transaction, again while it is canceled by a
// conflict: every unit of a run updates the same run entry, and on AWS two
// transactions on one item at once cancel one of them (TransactionConflict).
func (w *Worker) transact(ctx context.Context, in *dynamodb.TransactWriteItemsInput) error {
	for attempt := 1; ; attempt++ {
		_, err := w.Tables.TransactWriteItems(ctx, in)
		if !conflict(err) || attempt == attempts {
			return err
		}
		if err := w.Sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// conflict reports whether a transaction was canceled by another one on
// the same item, and by nothing else.
func conflict(err error) bool {
	var canceled *dbtypes.TransactionCanceledException
	if !errors.As(err, &canceled) {
		var tc *dbtypes.TransactionConflictException
		return errors.As(err, &tc)
	}
	seen := false
	for _, r := range canceled.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "TransactionConflict":
			seen = true
		case "", "None":
		default:
			return false
		}
	}
	return seen
}

// complete marks the run complete if every unit has finished: the update
// holds only when units_done has reached units_expected and the run is
// not complete yet, so exactly one unit completes it, and logs the run's
// totals with the metrics. The run's duration is from the coordinator's
// start to now, both on the functions' own clocks (wall time), not on Now,
// which may be a cloud's virtual time.
func (w *Worker) complete(ctx context.Context, u unitRun) error {
	took := time.Since(time.UnixMilli(u.m.StartedMS))
	out, err := w.Tables.UpdateItem(ctx, completion(w.Config.Audit.RunsTableName, u.key, took))
	var notYet *dbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &notYet):
		return nil
	case err != nil:
		return fmt.Errorf("complete run %s: %w", u.m.RunID, err)
	}
	var e struct {
		entry
		DurationMS int64 `dynamodbav:"duration_ms"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &e); err != nil {
		return fmt.Errorf("read the completed run: %w", err)
	}
	res := audit.Result{RunID: e.RunID, Checked: e.Checked, Flagged: e.Flagged, Written: e.Written, Unaudited: e.Unaudited,
		LookedUp: e.LookedUp, Replicas: e.Replicas, CheckedAt: e.CheckedAt, DurationMS: e.DurationMS}
	attrs := []any{"run_id", e.RunID, "completed_by", tables.UnitOf(u.m.Account, u.m.Region), "units", e.UnitsExpected, "units_failed", e.UnitsFailed, "accounts", e.Accounts,
		"checked", e.Checked, "flagged", e.Flagged, "written", e.Written, "unaudited", e.Unaudited, "replicas", e.Replicas,
		"duration_ms", e.DurationMS}
	attrs = append(attrs, audit.Metrics(w.Config.Audit.StackName, res, true, time.UnixMilli(u.m.StartedMS))...)
	w.Logger.Info("organization run complete", attrs...)
	return nil
}

// completion is the conditional update that completes a run.
func completion(table string, key map[string]dbtypes.AttributeValue, took time.Duration) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName: &table, Key: key,
		UpdateExpression:    aws.String("SET #complete = :true, #ck = :ck, duration_ms = :d"),
		ConditionExpression: aws.String("#done = #expected AND attribute_not_exists(#ck)"),
		ExpressionAttributeNames: map[string]string{"#complete": "complete", "#ck": tables.CompleteKey,
			"#done": tables.UnitsDone, "#expected": tables.UnitsExpected},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{
			":true": &dbtypes.AttributeValueMemberBOOL{Value: true},
			":ck":   &dbtypes.AttributeValueMemberS{Value: tables.CompleteValue},
			":d":    num(int(took.Milliseconds())),
		},
		ReturnValues: dbtypes.ReturnValueAllNew,
	}
}

// sessions assumes each member account's role once per invocation, for
// all the units of that account in the batch.
type sessions struct {
	w  *Worker
	mu sync.Mutex
	by map[string]*session
}

type session struct {
	once  sync.Once
	creds aws.Credentials
	err   error
}

func (s *sessions) assume(ctx context.Context, account, runID string) (aws.Credentials, error) {
	s.mu.Lock()
	if s.by == nil {
		s.by = map[string]*session{}
	}
	one, ok := s.by[account]
	if !ok {
		one = &session{}
		s.by[account] = one
	}
	s.mu.Unlock()
	one.once.Do(func() {
		out, err := s.w.Roles.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String(s.w.roleARN(account)), RoleSessionName: aws.String("rotation-audit-" + runID),
		})
		if err != nil {
			one.err = err
			return
		}
		k := out.Credentials
		if k == nil {
			one.err = errors.New("AssumeRole returned no credentials")
			return
		}
		one.creds = aws.Credentials{AccessKeyID: aws.ToString(k.AccessKeyId), SecretAccessKey: aws.ToString(k.SecretAccessKey),
			SessionToken: aws.ToString(k.SessionToken), Source: "AssumeRole", CanExpire: k.Expiration != nil}
		if k.Expiration != nil {
			one.creds.Expires = *k.Expiration
		}
	})
	return one.creds, one.err
}

// accessDenied reports whether AssumeRole was refused: the role does not
// exist or does not trust the hub's worker role.
func accessDenied(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "AccessDenied", "AccessDeniedException":
		return true
	}
	return false
}

func num(n int) *dbtypes.AttributeValueMemberN {
	return &dbtypes.AttributeValueMemberN{Value: strconv.Itoa(n)}
}

// pick is the values named that exist.
func pick(values map[string]dbtypes.AttributeValue, names ...string) map[string]dbtypes.AttributeValue {
	out := map[string]dbtypes.AttributeValue{}
	for _, n := range names {
		if v, ok := values[n]; ok {
			out[n] = v
		}
	}
	return out
}

// truncate shortens s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
