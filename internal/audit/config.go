package audit

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Defaults for the optional settings; the README's configuration table lists them.
const (
	DefaultMaxAgeDays    = 30
	DefaultTagKey        = "Managed"
	DefaultTagValue      = "true"
	DefaultRetentionDays = 400
	DefaultUnusedDays    = 90
	DefaultStackName     = "rotation-audit"
)

// maxWindowMinutes bounds FLEXIBLE_WINDOW_MINUTES, as EventBridge
// Scheduler bounds a flexible time window's MaximumWindowInMinutes.
const maxWindowMinutes = 1440

// maxDays bounds MAX_AGE_DAYS, RETENTION_DAYS and UNUSED_DAYS: ten years is far beyond any
// sensible policy, so a larger value is almost certainly a typo.
const maxDays = 3650

// Config is the validated configuration of the rotation check.
type Config struct {
	// TableName is the DynamoDB audit table (TABLE_NAME, required).
	TableName string
	// RunsTableName is the run log table (RUNS_TABLE_NAME); empty for none.
	RunsTableName string
	// MaxAgeDays is how old a secret's basis date may be before it needs rotation.
	MaxAgeDays int
	// TagKey and TagValue select the secrets to check: a secret is checked only
	// if one of its tags has exactly this key and exactly this value.
	TagKey   string
	TagValue string
	// RetentionDays sets each row's expires_at (DynamoDB TTL) after its run.
	RetentionDays int
	// UnusedDays is how long a secret may go unread before it counts as
	// unused (Security Hub's SecretsManager.3 default is 90).
	UnusedDays int
	// StackName is the metrics' Stack dimension (STACK_NAME).
	StackName string
	// Region is the function's region (AWS_REGION): a secret whose
	// PrimaryRegion differs is a replica.
	Region string
	// FlexibleWindow is the schedule's flexible time window
	// (FLEXIBLE_WINDOW_MINUTES, 0 for OFF): with clockSkew, how far ahead
	// of the function's clock a scheduled_time may be.
	FlexibleWindow time.Duration
	// SecurityHubFindings (SECURITY_HUB_FINDINGS "true") imports a Security
	// Hub finding per secret whose state changed, and all of them daily.
	SecurityHubFindings bool
	// AccountID is set when the check audits one account and region of an
	// organization run (package org): rows then carry the account and
	// Region, and the run's log line has no metrics (the run's are logged
	// by the unit that completes it). Empty in single-account mode.
	AccountID string
	// AuditedRegions are the regions an organization run audits: a
	// replica whose primary region is one of them gets no row here (it is
	// counted as Replicas), because its primary's unit judges it.
	AuditedRegions []string
	// HubAccountID and HubRegion are where an organization unit imports
	// its Security Hub findings: the hub's account and region, not the
	// member's (see findings.Secret.HubAccountID). Empty in single-account
	// mode, where the secrets' own account imports them.
	HubAccountID, HubRegion string
}

// ConfigFromEnv reads the configuration from environment variables through
// lookup (usually os.LookupEnv) and validates it. An unset or empty optional
// variable takes its default. The error names every bad variable and value.
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	cfg := Config{
		TableName:     get("TABLE_NAME"),
		RunsTableName: get("RUNS_TABLE_NAME"),
		TagKey:        orDefault(get("TAG_KEY"), DefaultTagKey),
		TagValue:      orDefault(get("TAG_VALUE"), DefaultTagValue),
		StackName:     orDefault(get("STACK_NAME"), DefaultStackName),
		Region:        orDefault(get("AWS_REGION"), get("AWS_DEFAULT_REGION")),
	}
	var errs []error
	if cfg.TableName == "" {
		errs = append(errs, errors.New("TABLE_NAME is required (the DynamoDB audit table)"))
	}
	var err error
	if cfg.MaxAgeDays, err = days("MAX_AGE_DAYS", get("MAX_AGE_DAYS"), DefaultMaxAgeDays); err != nil {
		errs = append(errs, err)
	}
	if cfg.RetentionDays, err = days("RETENTION_DAYS", get("RETENTION_DAYS"), DefaultRetentionDays); err != nil {
		errs = append(errs, err)
	}
	if cfg.UnusedDays, err = days("UNUSED_DAYS", get("UNUSED_DAYS"), DefaultUnusedDays); err != nil {
		errs = append(errs, err)
	}
	if cfg.FlexibleWindow, err = minutes("FLEXIBLE_WINDOW_MINUTES", get("FLEXIBLE_WINDOW_MINUTES")); err != nil {
		errs = append(errs, err)
	}
	switch v := get("SECURITY_HUB_FINDINGS"); v {
	case "", "false":
	case "true":
		cfg.SecurityHubFindings = true
	default:
		errs = append(errs, fmt.Errorf("SECURITY_HUB_FINDINGS=%q: want true or false", v))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

// days parses a whole number of days in 1..maxDays; empty means def.
func days(name, value string, def int) (int, error) {
	if value == "" {
		return def, nil
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a whole number of days", name, value)
	}
	if n < 1 || n > maxDays {
		return 0, fmt.Errorf("%s=%d is out of range 1..%d", name, n, maxDays)
	}
	return n, nil
}

// minutes parses a whole number of minutes in 0..maxWindowMinutes; empty
// means 0.
func minutes(name, value string) (time.Duration, error) {
	if value == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a whole number of minutes", name, value)
	}
	if n < 0 || n > maxWindowMinutes {
		return 0, fmt.Errorf("%s=%d is out of range 0..%d", name, n, maxWindowMinutes)
	}
	return time.Duration(n) * time.Minute, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
