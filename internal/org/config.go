// Package org is the write side of organization mode: one hub stack audits
// every account and region of an organization, fanned out on SQS. The
// scheduled invocation is the Coordinator: it resolves the units (accounts
// x regions), writes the run's plan and sends one message per unit. Each
// message reaches the same function through the queue's event source
// mapping, as the Worker: it assumes the member account's reader role,
// audits the unit with package audit's Checker, writes the rows to the
// hub's organization table and adds its counts to the run's entry; the unit
// that completes the count marks the run complete. Handler tells the two
// apart by the event.
//
// It imports package audit (the pipeline, the run ID), package tables (the
// contract), the AWS SDK's types and tiny interfaces with the SDK's own
// method signatures; never an emulator.
package org

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// Organization is the ACCOUNTS value that means every ACTIVE account
// Organizations lists.
const Organization = "ORGANIZATION"

// DefaultMemberRoleName is the member template's role name.
const DefaultMemberRoleName = "rotation-audit-reader"

// DefaultMaxReceives is the units queue's maxReceiveCount in template.yaml:
// a unit's message is received at most this many times before it is
// dead-lettered.
const DefaultMaxReceives = 3

// Config is organization mode's configuration, on top of the audit's.
type Config struct {
	// Audit is the hub's audit configuration; a unit's Checker copies it.
	Audit audit.Config
	// Organization says the units are every ACTIVE account of the
	// organization; otherwise Accounts lists them.
	Organization bool
	Accounts     []string
	// Regions are the regions audited in every account.
	Regions []string
	// MemberRoleName is the reader role assumed in every account.
	MemberRoleName string
	// OrgTable receives the rows, UnitsTable the units; QueueURL is the
	// units queue.
	OrgTable, UnitsTable, QueueURL string
	// MaxReceives is the queue's maxReceiveCount: the attempt that
	// records a failing unit as failed before it is dead-lettered.
	MaxReceives int
	// HubAccountID is the hub's own account (HUB_ACCOUNT_ID, which the
	// template sets to AWS::AccountId), read with SECURITY_HUB_FINDINGS:
	// workers import every unit's findings into its Security Hub.
	HubAccountID string
}

var (
	accountPattern = regexp.MustCompile(`^\d{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	rolePattern    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

// ConfigFromEnv reads organization mode's variables through lookup. With
// ACCOUNTS empty it returns false: single-account mode, nothing else read.
// The error names every bad variable and value.
func ConfigFromEnv(lookup func(string) (string, bool), base audit.Config) (Config, bool, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	accounts := get("ACCOUNTS")
	if accounts == "" {
		return Config{}, false, nil
	}
	cfg := Config{
		Audit:          base,
		MemberRoleName: get("MEMBER_ROLE_NAME"),
		OrgTable:       get("ORG_TABLE_NAME"),
		UnitsTable:     get("UNITS_TABLE_NAME"),
		QueueURL:       get("UNITS_QUEUE_URL"),
		MaxReceives:    DefaultMaxReceives,
	}
	if cfg.MemberRoleName == "" {
		cfg.MemberRoleName = DefaultMemberRoleName
	}
	var errs []error
	if accounts == Organization {
		cfg.Organization = true
	} else {
		for _, a := range strings.Split(accounts, ",") {
			a = strings.TrimSpace(a)
			if !accountPattern.MatchString(a) {
				errs = append(errs, fmt.Errorf("ACCOUNTS: %q is not a 12-digit account ID (ACCOUNTS is %s or a comma-separated list of account IDs)", a, Organization))
				continue
			}
			if !slices.Contains(cfg.Accounts, a) {
				cfg.Accounts = append(cfg.Accounts, a)
			}
		}
	}
	if regions := get("REGIONS"); regions != "" {
		for _, r := range strings.Split(regions, ",") {
			r = strings.TrimSpace(r)
			if !regionPattern.MatchString(r) {
				errs = append(errs, fmt.Errorf("REGIONS: %q is not a region such as eu-west-1", r))
				continue
			}
			if !slices.Contains(cfg.Regions, r) {
				cfg.Regions = append(cfg.Regions, r)
			}
		}
	} else if base.Region != "" {
		cfg.Regions = []string{base.Region}
	}
	if !rolePattern.MatchString(cfg.MemberRoleName) {
		errs = append(errs, fmt.Errorf("MEMBER_ROLE_NAME=%q is not a role name", cfg.MemberRoleName))
	}
	for name, v := range map[string]string{"ORG_TABLE_NAME": cfg.OrgTable, "UNITS_TABLE_NAME": cfg.UnitsTable,
		"UNITS_QUEUE_URL": cfg.QueueURL, "RUNS_TABLE_NAME": base.RunsTableName} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required in organization mode (ACCOUNTS is set)", name))
		}
	}
	if v := get("UNIT_MAX_RECEIVES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			errs = append(errs, fmt.Errorf("UNIT_MAX_RECEIVES=%q is not a whole number from 1 to 1000 (the queue's maxReceiveCount)", v))
		}
		cfg.MaxReceives = n
	}
	if base.SecurityHubFindings {
		// Only the hub may import: the member role reads secrets and
		// nothing else, and Security Hub takes a default-product finding
		// only from the account it names.
		cfg.HubAccountID = get("HUB_ACCOUNT_ID")
		if !accountPattern.MatchString(cfg.HubAccountID) {
			errs = append(errs, fmt.Errorf("HUB_ACCOUNT_ID=%q is not a 12-digit account ID: organization mode imports Security Hub findings (SECURITY_HUB_FINDINGS=true) into the hub's own account, which the template sets from AWS::AccountId", cfg.HubAccountID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, true, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, true, nil
}
