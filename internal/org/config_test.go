package org

import (
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestConfigSingleAccountWithoutAccounts(t *testing.T) {
	is := is.New(t)
	_, on, err := ConfigFromEnv(env(map[string]string{"REGIONS": "banana", "MEMBER_ROLE_NAME": "x"}), audit.Config{})
	is.NoErr(err) // nothing else is read: the tutorial's configuration is unchanged
	is.True(!on)
}

func TestConfigOrganization(t *testing.T) {
	is := is.New(t)
	base := audit.Config{RunsTableName: "hub-runs", Region: "us-east-1"}
	vars := map[string]string{"ACCOUNTS": "ORGANIZATION", "ORG_TABLE_NAME": "o", "UNITS_TABLE_NAME": "u", "UNITS_QUEUE_URL": "q"}
	cfg, on, err := ConfigFromEnv(env(vars), base)
	is.NoErr(err)
	is.True(on)
	is.True(cfg.Organization)
	is.Equal(cfg.Regions, []string{"us-east-1"})          // empty REGIONS: the stack's region
	is.Equal(cfg.MemberRoleName, "rotation-audit-reader") // the member template's default
	is.Equal(cfg.MaxReceives, DefaultMaxReceives)

	vars["ACCOUNTS"] = "111111111111, 222222222222,111111111111"
	vars["REGIONS"] = "eu-west-1,us-east-1"
	cfg, _, err = ConfigFromEnv(env(vars), base)
	is.NoErr(err)
	is.True(!cfg.Organization)
	is.Equal(cfg.Accounts, []string{"111111111111", "222222222222"}) // listed once each
	is.Equal(cfg.Regions, []string{"eu-west-1", "us-east-1"})
}

func TestConfigNamesEveryMistake(t *testing.T) {
	is := is.New(t)
	_, on, err := ConfigFromEnv(env(map[string]string{"ACCOUNTS": "1234,organization", "REGIONS": "moon-1",
		"MEMBER_ROLE_NAME": "a b", "UNIT_MAX_RECEIVES": "0"}), audit.Config{})
	is.True(on)
	for _, want := range []string{`"1234"`, `"organization"`, `"moon-1"`, `MEMBER_ROLE_NAME="a b"`, "ORG_TABLE_NAME is required",
		"UNITS_TABLE_NAME", "UNITS_QUEUE_URL", "RUNS_TABLE_NAME", "UNIT_MAX_RECEIVES"} {
		is.True(strings.Contains(err.Error(), want)) // each bad or missing value is named
	}
}

// With SECURITY_HUB_FINDINGS the workers import into the hub's own
// account, named by HUB_ACCOUNT_ID: a missing or malformed one stops the
// function at start, with one line naming it; without findings it is not
// read.
func TestConfigHubAccountForFindings(t *testing.T) {
	is := is.New(t)
	base := audit.Config{RunsTableName: "hub-runs", Region: "us-east-1", SecurityHubFindings: true}
	vars := map[string]string{"ACCOUNTS": "ORGANIZATION", "ORG_TABLE_NAME": "o", "UNITS_TABLE_NAME": "u", "UNITS_QUEUE_URL": "q",
		"HUB_ACCOUNT_ID": "000000000000"}
	cfg, _, err := ConfigFromEnv(env(vars), base)
	is.NoErr(err)
	is.Equal(cfg.HubAccountID, "000000000000")

	for _, bad := range []string{"", "12345", "arn:aws:iam::000000000000:root"} {
		vars["HUB_ACCOUNT_ID"] = bad
		_, _, err := ConfigFromEnv(env(vars), base)
		is.True(err != nil)                                      // refused at start
		is.True(strings.Contains(err.Error(), "HUB_ACCOUNT_ID")) // and named
		is.True(!strings.Contains(err.Error(), "\n"))            // in one line
	}

	base.SecurityHubFindings = false
	cfg, _, err = ConfigFromEnv(env(vars), base)
	is.NoErr(err) // not read without findings
	is.Equal(cfg.HubAccountID, "")
}
