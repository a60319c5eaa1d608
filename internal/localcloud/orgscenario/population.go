// Package orgscenario is scenario E, the organization's answer, on the
// embedded cloud: three accounts in two regions, the hub stack deployed
// with Accounts=ORGANIZATION, member-role.yaml in two of the accounts,
// secrets in both regions (one name in two accounts, one replicated
// secret), one run fired as the scheduler fires it, the workers run by the
// queue's event source mapping on the cloud clock, and the checks that the
// run completed with every account accounted for, in the report and on
// the dashboard. DataPlane runs the same run's data plane in-process
// against any endpoint (moto too), and BenchOrg times a large
// organization behind the latency proxy.
//
// It imports the embedded cloud, the deployer, package org and audit (to
// run and read the data plane), package report (to read the answer as
// rotation-audit does), package dashboard (to click through it as a
// person does) and the SDK clients; only the localcloud
// command and tests import it.
package orgscenario

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Regions are scenario E's regions; the first is the hub's.
var Regions = []string{"us-east-1", "eu-west-1"}

// Secret is one secret the scenario creates.
type Secret struct {
	Account, Region, Name string
	Managed               bool
	// ReplicaIn is a region the secret is replicated to, or "".
	ReplicaIn string
}

// Population is scenario E's secrets for three accounts: the first (the
// hub's, without a member role: not reporting) and two members. Both
// members have "db" in the first region (one name, two rows), the first
// member's "shared-key" is replicated to the second region (one row),
// and the second member's "legacy" is not Managed=true (no row).
func Population(accounts [3]string, prefix string) []Secret {
	hub, a, b := accounts[0], accounts[1], accounts[2]
	east, west := Regions[0], Regions[1]
	return []Secret{
		{Account: hub, Region: east, Name: prefix + "hub-only", Managed: true},
		{Account: a, Region: east, Name: prefix + "db", Managed: true},
		{Account: a, Region: east, Name: prefix + "shared-key", Managed: true, ReplicaIn: west},
		{Account: a, Region: west, Name: prefix + "api", Managed: true},
		{Account: b, Region: east, Name: prefix + "db", Managed: true},
		{Account: b, Region: east, Name: prefix + "legacy", Managed: false},
		{Account: b, Region: west, Name: prefix + "cache", Managed: true},
	}
}

// CreateSecrets creates the population, each secret with a client that
// acts as its account in its region.
func CreateSecrets(ctx context.Context, as func(account, region string) aws.Config, secrets []Secret) error {
	for _, s := range secrets {
		value := "true"
		if !s.Managed {
			value = "false"
		}
		in := &secretsmanager.CreateSecretInput{Name: aws.String(s.Name), SecretString: aws.String("value"),
			Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String(value)}}}
		if s.ReplicaIn != "" {
			in.AddReplicaRegions = []smtypes.ReplicaRegionType{{Region: aws.String(s.ReplicaIn)}}
		}
		if _, err := secretsmanager.NewFromConfig(as(s.Account, s.Region)).CreateSecret(ctx, in); err != nil {
			return fmt.Errorf("create secret %s in %s/%s: %w", s.Name, s.Account, s.Region, err)
		}
	}
	return nil
}

// Outcome is what a run left in the hub's tables.
type Outcome struct {
	RunID string
	Entry RunEntry
	Units []UnitItem
	Rows  []audit.Record
	// Findings are what the hub account's Security Hub holds after the
	// run (scenario E deploys the hub with SecurityHubFindings=true).
	Findings []shtypes.AwsSecurityFinding
}

// RunEntry is an organization run's run log entry, as read back.
type RunEntry struct {
	Complete      bool   `dynamodbav:"complete"`
	CompleteKey   string `dynamodbav:"complete_key"`
	Checked       int    `dynamodbav:"checked"`
	Flagged       int    `dynamodbav:"flagged"`
	Written       int    `dynamodbav:"written"`
	Replicas      int    `dynamodbav:"replicas"`
	UnitsExpected int    `dynamodbav:"units_expected"`
	UnitsDone     int    `dynamodbav:"units_done"`
	UnitsFailed   int    `dynamodbav:"units_failed"`
	Accounts      int    `dynamodbav:"accounts"`
	DurationMS    int64  `dynamodbav:"duration_ms"`
}

// UnitItem is one unit of a run, as read back.
type UnitItem struct {
	Unit      string `dynamodbav:"unit"`
	AccountID string `dynamodbav:"account_id"`
	Region    string `dynamodbav:"region"`
	State     string `dynamodbav:"state"`
	Error     string `dynamodbav:"error"`
	Checked   int    `dynamodbav:"checked"`
}

// Check says what is wrong with a run's outcome, given the population and
// the accounts whose role cannot be assumed; nothing when it is right.
func Check(o Outcome, secrets []Secret, accounts []string, denied []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	want := map[string]bool{} // account/region/name of the rows expected
	for _, s := range secrets {
		if s.Managed && !slices.Contains(denied, s.Account) {
			want[s.Account+"/"+s.Region+"/"+s.Name] = true // a replica has no row of its own
		}
	}
	got := map[string]bool{}
	for _, r := range o.Rows {
		key := r.AccountID + "/" + r.Region + "/" + r.SecretName
		if got[key] {
			bad("two rows for %s", key)
		}
		got[key] = true
		if !strings.Contains(r.SecretARN, ":"+r.Region+":"+r.AccountID+":secret:") {
			bad("row %s has the ARN %s of another account or region", key, r.SecretARN)
		}
		if r.RunID != o.RunID {
			bad("row %s is of run %s, not %s", key, r.RunID, o.RunID)
		}
	}
	for k := range want {
		if !got[k] {
			bad("no row for %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			bad("an unexpected row for %s (not managed, a replica, or an account not reporting)", k)
		}
	}

	units := len(accounts) * len(Regions)
	e := o.Entry
	switch {
	case !e.Complete || e.CompleteKey != tables.CompleteValue:
		bad("the run is not complete (units done %d of %d)", e.UnitsDone, e.UnitsExpected)
	case e.UnitsExpected != units || e.UnitsDone != units:
		bad("the run expected %d and finished %d units, want %d", e.UnitsExpected, e.UnitsDone, units)
	case e.UnitsFailed != len(denied)*len(Regions):
		bad("%d units failed, want %d (the accounts not reporting, in every region)", e.UnitsFailed, len(denied)*len(Regions))
	case e.Checked != len(want) || e.Written != len(want):
		bad("the run checked %d and wrote %d rows, want %d", e.Checked, e.Written, len(want))
	case e.Replicas != 1:
		bad("the run left %d replicas to their primary, want 1", e.Replicas)
	}
	if len(o.Units) != units {
		bad("%d units recorded, want %d", len(o.Units), units)
	}
	for _, u := range o.Units {
		switch {
		case slices.Contains(denied, u.AccountID) && (u.State != tables.UnitFailed || !strings.Contains(u.Error, "AccessDenied")):
			bad("unit %s is %s (%q), want failed with AccessDenied: the account is not reporting", u.Unit, u.State, u.Error)
		case !slices.Contains(denied, u.AccountID) && u.State != tables.UnitDone:
			bad("unit %s is %s (%s), want done", u.Unit, u.State, u.Error)
		}
	}
	return problems
}
