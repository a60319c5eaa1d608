package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// RunEntry is one run in the run log, complete or not. Its keys are
// package tables' Month and RunID; CompleteKey is set on complete runs
// only, so the sparse CompleteIndex holds only those.
type RunEntry struct {
	Month      string `dynamodbav:"month" json:"-"`
	RunID      string `dynamodbav:"run_id" json:"run_id"`
	CheckedAt  string `dynamodbav:"checked_at" json:"checked_at"`
	Checked    int    `dynamodbav:"checked" json:"checked"`
	Flagged    int    `dynamodbav:"flagged" json:"flagged"`
	Written    int    `dynamodbav:"written" json:"written"`
	Unaudited  int    `dynamodbav:"unaudited" json:"unaudited"`
	LookedUp   int    `dynamodbav:"looked_up" json:"looked_up"`
	Complete   bool   `dynamodbav:"complete" json:"complete"`
	Error      string `dynamodbav:"error,omitempty" json:"error,omitempty"`
	DurationMS int64  `dynamodbav:"duration_ms" json:"duration_ms"`
	MaxAgeDays int    `dynamodbav:"max_age_days" json:"max_age_days"`
	// PreviousRunID is the complete run this one compared itself with,
	// empty for the first run; New, NewFlagged, NewlyFlagged, Resolved and
	// Gone are its counts of what changed since (Result's).
	PreviousRunID string `dynamodbav:"previous_run_id,omitempty" json:"previous_run_id,omitempty"`
	New           int    `dynamodbav:"new" json:"new"`
	NewFlagged    int    `dynamodbav:"new_flagged" json:"new_flagged"`
	NewlyFlagged  int    `dynamodbav:"newly_flagged" json:"newly_flagged"`
	Resolved      int    `dynamodbav:"resolved" json:"resolved"`
	Gone          int    `dynamodbav:"gone" json:"gone"`
	// ScheduledTime is set when the scheduler sent the run.
	ScheduledTime string `dynamodbav:"scheduled_time,omitempty" json:"scheduled_time,omitempty"`
	// CompleteKey is set only on complete runs: the sparse index's key.
	CompleteKey string `dynamodbav:"complete_key,omitempty" json:"-"`
	ExpiresAt   int64  `dynamodbav:"expires_at" json:"expires_at"`
	// FindingsImported, FindingsFailed and FindingsError: the run's
	// Security Hub import, when SECURITY_HUB_FINDINGS is on.
	FindingsImported int    `dynamodbav:"findings_imported,omitempty" json:"findings_imported,omitempty"`
	FindingsFailed   int    `dynamodbav:"findings_failed,omitempty" json:"findings_failed,omitempty"`
	FindingsError    string `dynamodbav:"findings_error,omitempty" json:"findings_error,omitempty"`
	// UnitsExpected, UnitsDone, UnitsFailed, Accounts, Regions and
	// Replicas are an organization run's (package org's coordinator writes
	// them, its workers add to them; package tables names them): the units
	// (account x region) it expects, those finished (done or failed) and
	// failed, the accounts, the regions audited, comma-separated, and the
	// replicas left to their primary region. A single-account run has none.
	UnitsExpected int    `dynamodbav:"units_expected,omitempty" json:"units_expected,omitempty"`
	UnitsDone     int    `dynamodbav:"units_done,omitempty" json:"units_done,omitempty"`
	UnitsFailed   int    `dynamodbav:"units_failed,omitempty" json:"units_failed,omitempty"`
	Accounts      int    `dynamodbav:"accounts,omitempty" json:"accounts,omitempty"`
	Regions       string `dynamodbav:"regions,omitempty" json:"regions,omitempty"`
	Replicas      int    `dynamodbav:"replicas,omitempty" json:"replicas,omitempty"`
}

// Organization reports whether the entry is an organization run's: its
// coordinator always records the regions it audits, so a run of an
// organization without any account is one too.
func (e RunEntry) Organization() bool { return e.Regions != "" || e.UnitsExpected > 0 }

// RunLogger is the part of the DynamoDB client the run log uses.
type RunLogger interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ RunLogger = (*dynamodb.Client)(nil)

// logRun writes the run's entry, within ctx: Run gives it its own context,
// so a run stopped before its deadline still records why, bounded to the
// part of the stop margin kept for it.
func (c *Checker) logRun(ctx context.Context, ev Event, r run, res Result, runErr error) error {
	entry := RunEntry{
		Month: tables.MonthOf(r.checkedAt), RunID: res.RunID, CheckedAt: res.CheckedAt,
		Checked: res.Checked, Flagged: res.Flagged, Written: res.Written, Unaudited: res.Unaudited, LookedUp: res.LookedUp,
		Complete: runErr == nil, DurationMS: res.DurationMS, MaxAgeDays: r.policy.MaxAgeDays,
		PreviousRunID: res.PreviousRunID, New: res.New, NewFlagged: res.NewFlagged,
		NewlyFlagged: res.NewlyFlagged, Resolved: res.Resolved, Gone: res.Gone,
		ExpiresAt:        r.expiresAt.Unix(),
		FindingsImported: res.FindingsImported, FindingsFailed: res.FindingsFailed, FindingsError: res.FindingsError,
	}
	if runErr != nil {
		entry.Error = truncate(runErr.Error(), 1000)
	} else {
		entry.CompleteKey = tables.CompleteValue
	}
	if !ev.ScheduledTime.IsZero() {
		entry.ScheduledTime = ev.ScheduledTime.UTC().Format(time.RFC3339)
	}
	item, err := attributevalue.MarshalMap(entry)
	if err != nil {
		return fmt.Errorf("marshal run log entry: %w", err)
	}
	if _, err := c.Runs.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.Config.RunsTableName), Item: item}); err != nil {
		return fmt.Errorf("write run log entry to %s: %w", c.Config.RunsTableName, err)
	}
	return nil
}

// truncate shortens s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
