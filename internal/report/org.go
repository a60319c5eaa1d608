package report

// Organization mode's read side: one account's rows, a run's units, and
// the accounts of a run, reporting or not.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// ErrNotOrganization is wrapped by a read that needs an organization run
// (an account's rows, the units) from a single-account store.
var ErrNotOrganization = errors.New("not an organization run")

// AccountRows is every row of one account in one run, every region's:
// Queries of the organization table's by-account index, account_id and
// run_id both in the key condition. It wraps ErrNotOrganization for a
// single-account store.
func (s *Store) AccountRows(ctx context.Context, account, runID string) ([]audit.Record, error) {
	if !s.Org {
		return nil, fmt.Errorf("rows of account %s: %w", account, ErrNotOrganization)
	}
	key := expression.Key(tables.AccountID).Equal(expression.Value(account)).And(expression.Key(tables.RunID).Equal(expression.Value(runID)))
	in := &dynamodb.QueryInput{TableName: aws.String(s.OrgTable), IndexName: aws.String(tables.AccountIndex)}
	var rows []audit.Record
	err := s.pages(ctx, in, key, eachRecord(func(r audit.Record) { rows = append(rows, r) }))
	return rows, err
}

// Unit is one account and region an organization run expected, as the
// units table holds it.
type Unit struct {
	Unit      string `dynamodbav:"unit" json:"unit"` // tables.UnitOf(AccountID, Region)
	AccountID string `dynamodbav:"account_id" json:"account_id"`
	Region    string `dynamodbav:"region" json:"region"`
	// State is tables.UnitPending, UnitDone or UnitFailed.
	State string `dynamodbav:"state" json:"state"`
	// Error says why a failed unit failed (an AccessDenied on the member
	// role, or its last attempt's error).
	Error      string `dynamodbav:"error,omitempty" json:"error,omitempty"`
	FinishedAt string `dynamodbav:"finished_at,omitempty" json:"finished_at,omitempty"`
	Checked    int    `dynamodbav:"checked" json:"checked"`
	Flagged    int    `dynamodbav:"flagged" json:"flagged"`
}

// Done reports whether the unit was audited: its rows are the account's
// and region's answer.
func (u Unit) Done() bool { return u.State == tables.UnitDone }

// Units are every unit of an organization run, by account then region:
// one Query of the units table on run_id, paged. It wraps
// ErrNotOrganization for a single-account store.
func (s *Store) Units(ctx context.Context, runID string) ([]Unit, error) {
	if !s.Org {
		return nil, fmt.Errorf("units of run %s: %w", runID, ErrNotOrganization)
	}
	var units []Unit
	in := &dynamodb.QueryInput{TableName: aws.String(s.UnitsTable)}
	err := s.pages(ctx, in, expression.Key(tables.RunID).Equal(expression.Value(runID)), func(items []map[string]dbtypes.AttributeValue) error {
		var page []Unit
		if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
			return fmt.Errorf("read units: %w", err)
		}
		units = append(units, page...)
		return nil
	})
	return units, err
}

// Account is one account of an organization run: its units and what its
// done units found.
type Account struct {
	AccountID string
	// Units are its units, by region.
	Units []Unit
	// Checked and Flagged are summed over its units.
	Checked, Flagged int
}

// Reporting reports whether every unit of the account is done: an
// account with a region failed or pending is not reporting.
func (a Account) Reporting() bool {
	for _, u := range a.Units {
		if !u.Done() {
			return false
		}
	}
	return true
}

// Missing are the account's units that are not done.
func (a Account) Missing() []Unit {
	var out []Unit
	for _, u := range a.Units {
		if !u.Done() {
			out = append(out, u)
		}
	}
	return out
}

// Reason says why an account is not reporting, on one line: each
// distinct error with the regions it stopped, such as "us-east-1,
// eu-west-1: assume arn:aws:iam::...: AccessDenied ...". A pending unit
// has no result yet. Empty for an account reporting.
func (a Account) Reason() string {
	var whys []string
	regions := map[string][]string{}
	for _, u := range a.Missing() {
		why := u.Error
		switch {
		case why == "" && u.State == tables.UnitPending:
			why = "pending: no result yet"
		case why == "":
			why = u.State + ", no error recorded"
		}
		if _, ok := regions[why]; !ok {
			whys = append(whys, why)
		}
		regions[why] = append(regions[why], u.Region)
	}
	parts := make([]string, len(whys))
	for i, why := range whys {
		parts[i] = strings.Join(regions[why], ", ") + ": " + UnitReason(why)
	}
	return strings.Join(parts, "; ")
}

// UnitReason is a unit's error on one line without the SDK's request
// details: "assume arn:...: operation error STS: AssumeRole, https
// response error StatusCode: 403, RequestID: ..., api error AccessDenied:
// ..." reads "assume arn:...: AccessDenied: ...".
func UnitReason(err string) string {
	err = cell(err)
	before, rest, ok := strings.Cut(err, "operation error ")
	if !ok {
		return err
	}
	if _, service, ok := strings.Cut(rest, "api error "); ok {
		return before + service
	}
	return err
}

// Organization is what a report says of an organization run beyond its
// rows: every account it expected, from its units.
type Organization struct {
	// Account is the one account the report is limited to; empty for the
	// whole organization.
	Account string
	// Accounts are the run's accounts (only Account when set), by ID.
	Accounts []Account
	// units are the run's units by unit name, for the rows' unit state.
	units map[string]Unit
}

// NewOrganization groups a run's units by account. With account set, the
// report is limited to it; ErrNoSuchAccount is wrapped when the run did not
// expect it.
func NewOrganization(units []Unit, account string) (*Organization, error) {
	o := &Organization{Account: account, units: map[string]Unit{}}
	by := map[string]*Account{}
	var ids []string
	for _, u := range units {
		o.units[u.Unit] = u
		if account != "" && u.AccountID != account {
			continue
		}
		a, ok := by[u.AccountID]
		if !ok {
			a = &Account{AccountID: u.AccountID}
			by[u.AccountID] = a
			ids = append(ids, u.AccountID)
		}
		a.Units = append(a.Units, u)
		a.Checked += u.Checked
		a.Flagged += u.Flagged
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := by[id]
		slices.SortFunc(a.Units, func(x, y Unit) int { return cmp.Compare(x.Region, y.Region) })
		o.Accounts = append(o.Accounts, *a)
	}
	if account != "" && len(o.Accounts) == 0 {
		return o, fmt.Errorf("%w: the run did not audit account %s", ErrNoSuchAccount, account)
	}
	return o, nil
}

// ErrNoSuchAccount: the run expected no unit of that account.
var ErrNoSuchAccount = errors.New("no such account")

// NotReporting are the accounts without a result for every region: each
// with a unit failed (with its error) or still pending.
func (o *Organization) NotReporting() []Account {
	var out []Account
	for _, a := range o.Accounts {
		if !a.Reporting() {
			out = append(out, a)
		}
	}
	return out
}

// Checked and Flagged are the report's counts: the run's, or the one
// account's.
func (o *Organization) counts(run audit.RunEntry) (checked, flagged int) {
	if o.Account == "" {
		return run.Checked, run.Flagged
	}
	for _, a := range o.Accounts {
		checked += a.Checked
		flagged += a.Flagged
	}
	return checked, flagged
}

// unitState is the state of the unit a row came from: "done", or
// "failed" for the partial rows of a unit that failed on its last attempt.
func (o *Organization) unitState(r audit.Record) string {
	account, region := Where(r)
	return o.units[tables.UnitOf(account, region)].State
}

// Where is a row's account and region: its own, else read from its ARN
// (arn:aws:secretsmanager:<region>:<account>:secret:<name>), as for the
// tombstones written before they carried them.
func Where(r audit.Record) (account, region string) {
	if r.AccountID != "" {
		return r.AccountID, r.Region
	}
	parts := strings.SplitN(r.SecretARN, ":", 6)
	if len(parts) < 6 {
		return "", ""
	}
	return parts[4], parts[3]
}

// ValidAccount checks an account ID as a user gives it: twelve digits.
func ValidAccount(id string) error {
	if len(id) != 12 || strings.Trim(id, "0123456789") != "" {
		return fmt.Errorf("account %q is not an AWS account ID: want 12 digits, such as 111111111111", id)
	}
	return nil
}
