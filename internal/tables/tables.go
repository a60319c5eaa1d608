// Package tables is the contract between the write side and the read side:
// the names, keys and indexes of the two DynamoDB tables that template.yaml
// creates, and the run-ID format both sides rely on. The rotation-check
// function writes by it, rotation-audit and the dashboard read by it, and
// the embedded cloud's tests check template.yaml against it.
//
// It is pure: it imports only the standard library.
package tables

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The audit table, <stack>-audit: one row per secret and run. Its key is
// (secret_name, run_id), the tutorial's, so one secret's history is one
// Query; the RunIndex (run_id) makes one run's rows one Query.
const (
	AuditSuffix = "-audit"
	SecretName  = "secret_name" // partition key
	RunID       = "run_id"      // sort key, and the RunIndex's partition key
	RunIndex    = "by-run"
)

// The run log, <stack>-runs: one entry per run, complete or not. Runs are
// partitioned by the UTC month of their checked_at (Month) and sorted by
// run ID, which sorts by time, so a period is one Query per month. The
// sparse CompleteIndex holds only complete runs, under one CompleteKey
// value, so the latest complete run is one Query, newest first, Limit 1.
const (
	RunsSuffix    = "-runs"
	Month         = "month" // partition key; the sort key is RunID
	CompleteIndex = "by-completion"
	CompleteKey   = "complete_key" // set only on complete runs
	CompleteValue = "complete"     // the one value CompleteKey takes
)

// AuditTable is the audit table's name for a stack.
func AuditTable(stack string) string { return stack + AuditSuffix }

// RunsTable is the run log's name for a stack.
func RunsTable(stack string) string { return stack + RunsSuffix }

// MonthOf is the run log partition of a time: its UTC year and month.
func MonthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// runPrefix starts every run ID.
const runPrefix = "run-"

// NewRunID names the run of an instant: "run-" and its Unix milliseconds.
// Run IDs of one length sort by time, so a range of them is a range of
// times (until the year 2286).
func NewRunID(t time.Time) string { return runPrefix + strconv.FormatInt(t.UnixMilli(), 10) }

// ParseRunID is the instant a run ID names.
func ParseRunID(id string) (time.Time, error) {
	digits, ok := strings.CutPrefix(id, runPrefix)
	ms, err := strconv.ParseInt(digits, 10, 64)
	if !ok || err != nil || ms < 0 {
		return time.Time{}, fmt.Errorf("run ID %q is not run-<Unix milliseconds>, such as run-1795615200000", id)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// What changed since the previous complete run, on every audit row (the
// Change attribute) and in the run log's counts. A row's change compares
// its status with the same secret's row in the previous complete run of
// the stack:
//   - ChangeNew: the secret was not in the previous run;
//   - ChangeNewlyFlagged: ok then, needs_rotation now;
//   - ChangeResolved: needs_rotation then, ok now;
//   - ChangeUnchanged: the same status (its value may still have changed:
//     the row's Changed attribute says what did);
//   - ChangeGone: the secret was in the previous run and is not in this
//     one, whose listing completed. Such a row is a tombstone: it has no
//     status, is not counted as checked, and readers list it apart.
const (
	Change             = "change"
	ChangeNew          = "new"
	ChangeNewlyFlagged = "newly_flagged"
	ChangeResolved     = "resolved"
	ChangeUnchanged    = "unchanged"
	ChangeGone         = "gone"
)

// The sparse change index of the audit table: only rows whose change is
// not unchanged carry ChangeMonth (the UTC month of the run's checked_at,
// as MonthOf), so a period's changes are one Query per month, keyed on
// ChangeMonth with a RunID range, and a history reads O(secrets + changes
// + runs) items instead of every row of every day.
const (
	ChangeIndex = "by-change"
	ChangeMonth = "change_month" // the ChangeIndex's partition key; its sort key is RunID
)

// Changed reports whether a change is one the change index holds.
func Changed(change string) bool { return change != "" && change != ChangeUnchanged }

// Organization mode (the template's Accounts parameter set): one hub stack
// audits every account and region of an organization. Its rows go to
// <stack>-org-audit, keyed by the secret's ARN, which names the account and
// region, so two secrets of one name in two accounts or regions are two
// rows; the by-run index (RunID, then SecretARN) makes one run's rows one
// Query, and the by-account index (AccountID, then RunID) one account's
// rows of a run, and the sparse ChangeIndex, as on the single-account
// table, a period's changes. Every row carries AccountID and Region. The single-account
// table and its key (SecretName, RunID) are unchanged and not used then.
const (
	OrgAuditSuffix = "-org-audit"
	SecretARN      = "secret_arn" // partition key of the org audit table
	AccountIndex   = "by-account"
	AccountID      = "account_id" // the AccountIndex's partition key; its sort key is RunID
	Region         = "region"
)

// The units of an organization run, <stack>-units: one item per account
// and region the run expects (key RunID, then Unit), written as pending by
// the coordinator before any work is sent, then set once to done or failed
// by the worker that audits it, with its counts and, when failed, the
// error (an AccessDenied on the member role, or the last attempt's error).
// "Accounts not reporting" are the accounts of a run with a unit that is
// not done: one Query on RunID lists every expected unit with its reason.
const (
	UnitsSuffix     = "-units"
	Unit            = "unit"  // sort key: UnitOf(account, region)
	UnitState       = "state" // UnitPending, UnitDone or UnitFailed
	UnitPending     = "pending"
	UnitDone        = "done"
	UnitFailed      = "failed"
	UnitError       = "error"
	UnitAccount     = AccountID
	UnitRegion      = Region
	UnitFinishedAt  = "finished_at"
	UnitsExpected   = "units_expected" // on an organization run's run log entry
	UnitsDone       = "units_done"     // units finished, done or failed: the run completes when it reaches UnitsExpected
	UnitsFailed     = "units_failed"   // of them, those failed
	AccountsPlanned = "accounts"       // how many accounts the run expects
	RegionsPlanned  = "regions"        // the regions it audits, comma-separated
)

// OrgAuditTable is the organization audit table's name for a stack.
func OrgAuditTable(stack string) string { return stack + OrgAuditSuffix }

// UnitsTable is the units table's name for a stack.
func UnitsTable(stack string) string { return stack + UnitsSuffix }

// UnitOf names the unit of an account and region: "111111111111/eu-west-1".
func UnitOf(account, region string) string { return account + "/" + region }
