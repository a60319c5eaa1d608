package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// orgResources are the resources only organization mode creates.
var orgResources = []string{"UnitsQueue", "UnitsMapping", "OrgAuditTable", "UnitsTable"}

// With Accounts empty the stack is the tutorial's: none of organization
// mode's resources, no permission to list accounts, assume roles or use
// the units queue, and the function is told it is single-account.
func TestTemplateSingleAccountHasNoOrganization(t *testing.T) {
	is := is.New(t)
	for _, p := range []string{"Accounts", "Regions"} {
		is.Equal(*env.tmpl.Parameters[p].Default, "") // single-account by default
	}
	is.Equal(*env.tmpl.Parameters["MemberRoleName"].Default, "rotation-audit-reader") // member-role.yaml's default
	off := deployedJSON(t, nil)
	var resources map[string]any
	is.NoErr(json.Unmarshal([]byte(off), &resources))
	for _, id := range orgResources {
		_, ok := resources[id]
		is.True(!ok) // not created
	}
	for _, s := range []string{"organizations:", "iam::*:role/", "sqs:ReceiveMessage", "org-audit"} {
		is.True(!strings.Contains(off, s)) // not granted, not named
	}
	is.True(strings.Contains(off, `"ACCOUNTS":""`))
}

// With Accounts set: the queue redrives to the dead-letter queue after as
// many receives as the function is told, the mapping reports batch item
// failures under a bounded concurrency, the organization table is keyed
// by secret ARN, and the role may assume only the member role.
func TestTemplateOrganizationMode(t *testing.T) {
	is := is.New(t)
	on := deployedJSON(t, map[string]string{"Accounts": "ORGANIZATION", "Regions": "us-east-1,eu-west-1"})
	var resources map[string]map[string]any
	is.NoErr(json.Unmarshal([]byte(on), &resources))
	for _, id := range orgResources {
		is.True(resources[id] != nil) // created
	}
	queue := resources["UnitsQueue"]
	redrive := queue["RedrivePolicy"].(map[string]any)
	is.Equal(redrive["deadLetterTargetArn"], "arn:placeholder:DeadLetterQueue")
	vars := resources["RotationCheckFunction"]["Environment"].(map[string]any)["Variables"].(map[string]any)
	is.Equal(jsonNumber(redrive["maxReceiveCount"]), jsonNumber(vars["UNIT_MAX_RECEIVES"])) // the last attempt records a failing unit
	is.Equal(vars["ACCOUNTS"], "ORGANIZATION")
	is.Equal(vars["REGIONS"], "us-east-1,eu-west-1")
	is.Equal(vars["ORG_TABLE_NAME"], "ref-OrgAuditTable")
	is.True(jsonNumber(queue["VisibilityTimeout"]) > jsonNumber(resources["RotationCheckFunction"]["Timeout"])) // Lambda requires at least the timeout

	mapping := resources["UnitsMapping"]
	is.Equal(asList(mapping["FunctionResponseTypes"]), []string{"ReportBatchItemFailures"})
	is.Equal(mapping["ScalingConfig"].(map[string]any)["MaximumConcurrency"], "10")

	table := resources["OrgAuditTable"]
	keys := map[string]string{}
	for _, k := range asAny(table["KeySchema"]) {
		m := k.(map[string]any)
		keys[m["KeyType"].(string)] = m["AttributeName"].(string)
	}
	is.Equal(keys, map[string]string{"HASH": tables.SecretARN, "RANGE": tables.RunID}) // the contract's key
	indexes := map[string]map[string]string{}
	for _, ix := range asAny(table["GlobalSecondaryIndexes"]) {
		m := ix.(map[string]any)
		ks := map[string]string{}
		for _, k := range asAny(m["KeySchema"]) {
			km := k.(map[string]any)
			ks[km["KeyType"].(string)] = km["AttributeName"].(string)
		}
		indexes[m["IndexName"].(string)] = ks
	}
	is.Equal(indexes, map[string]map[string]string{ // the contract's indexes: one run, one account, the changes of a history
		tables.RunIndex:     {"HASH": tables.RunID, "RANGE": tables.SecretARN},
		tables.AccountIndex: {"HASH": tables.AccountID, "RANGE": tables.RunID},
		tables.ChangeIndex:  {"HASH": tables.ChangeMonth, "RANGE": tables.RunID},
	})
	is.Equal(resources["UnitsTable"]["TableName"], "rotcheck"+tables.UnitsSuffix)
	is.True(strings.Contains(on, `"Resource":"arn:aws:iam::*:role/rotation-audit-reader"`)) // only the member role
}

// In organization mode with SecurityHubFindings the workers import every
// unit's findings as the hub: the function's role (the workers' role) may
// import into the hub account's own default product, in its region, and
// nothing else, and the function is told the hub's account. Each unit
// reads its account's rows of the previous run. The member role is
// unchanged (TestMemberTemplateGrantsOnlyTheTwoReads).
func TestTemplateOrganizationImportsFindingsAsTheHub(t *testing.T) {
	is := is.New(t)
	on := deployedJSON(t, map[string]string{"Accounts": "ORGANIZATION", "Regions": "us-east-1,eu-west-1", "SecurityHubFindings": "true"})
	var resources map[string]map[string]any
	is.NoErr(json.Unmarshal([]byte(on), &resources))
	vars := resources["RotationCheckFunction"]["Environment"].(map[string]any)["Variables"].(map[string]any)
	is.Equal(vars["SECURITY_HUB_FINDINGS"], "true")
	is.Equal(vars["HUB_ACCOUNT_ID"], "123456789012") // the hub's own account (AWS::AccountId)

	grants := map[string][]string{} // action -> resources, over every role
	for _, r := range resources {
		for _, pol := range asAny(r["Policies"]) {
			for _, st := range asAny(pol.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"]) {
				s := st.(map[string]any)
				for _, a := range asList(s["Action"]) {
					grants[a] = append(grants[a], asList(s["Resource"])...)
				}
			}
		}
	}
	for a := range grants {
		is.True(!strings.HasPrefix(a, "securityhub:") || a == "securityhub:BatchImportFindings") // import only
	}
	is.Equal(grants["securityhub:BatchImportFindings"],
		[]string{"arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"}) // the hub's default product, once
	is.True(slices.Contains(grants["dynamodb:Query"], "arn:placeholder:OrgAuditTable/index/by-account")) // a unit's previous rows

	off := deployedJSON(t, map[string]string{"Accounts": "ORGANIZATION", "Regions": "us-east-1,eu-west-1"})
	is.True(!strings.Contains(strings.ToLower(off), "securityhub")) // off: no Security Hub permission
}

// jsonNumber reads a whole number the plan resolved, as a string or a
// number.
func jsonNumber(v any) int {
	n, _ := strconv.Atoi(fmt.Sprint(v))
	return n
}

// member-role.yaml goes to every member account by a service-managed
// StackSet, which refuses transforms; it creates the reader role alone,
// which the hub's worker role alone may assume from inside the
// organization, and which may list secrets and the version dates of the
// Managed=true ones: nothing else, never a value.
func TestMemberTemplateGrantsOnlyTheTwoReads(t *testing.T) {
	is := is.New(t)
	data, err := os.ReadFile("../member-role.yaml")
	is.NoErr(err)
	tmpl, err := cfn.Parse(data)
	is.NoErr(err)
	is.Equal(len(tmpl.Transforms), 0) // plain CloudFormation
	is.True(!strings.Contains(string(data), "Transform"))
	is.Equal(len(tmpl.Resources), 1)
	role := tmpl.Resources["ReaderRole"]
	is.Equal(role.Type, "AWS::IAM::Role")
	p, err := cfn.NewPlan(tmpl, cfn.Stack{Name: "member", Region: "us-east-1", Account: "111111111111"},
		map[string]string{"HubAccountId": "000000000000", "HubWorkerRoleName": "hub-RotationCheckFunctionRole", "OrganizationId": "o-localcloud"})
	is.NoErr(err)
	resolved, err := p.Resolve(role.Properties)
	is.NoErr(err)
	props := resolved.(map[string]any)
	for k := range props {
		is.True(slices.Contains([]string{"RoleName", "Description", "MaxSessionDuration", "AssumeRolePolicyDocument", "Policies", "Tags"}, k)) // no managed policy, no boundary games
	}
	is.Equal(props["RoleName"], "rotation-audit-reader")

	var actions []string
	for _, pol := range asAny(props["Policies"]) {
		for _, st := range asAny(pol.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"]) {
			s := st.(map[string]any)
			is.Equal(s["Effect"], "Allow")
			for _, a := range asList(s["Action"]) {
				actions = append(actions, a)
				if a == "secretsmanager:ListSecretVersionIds" {
					cond, _ := json.Marshal(s["Condition"])
					is.Equal(string(cond), `{"StringEquals":{"aws:ResourceTag/Managed":"true"}}`) // only the audited secrets
				}
			}
		}
	}
	slices.Sort(actions)
	is.Equal(actions, []string{"secretsmanager:ListSecretVersionIds", "secretsmanager:ListSecrets"}) // nothing else
	is.True(!strings.Contains(string(data), "GetSecretValue"))

	trust, _ := json.Marshal(props["AssumeRolePolicyDocument"])
	for _, want := range []string{
		`"Principal":{"AWS":"arn:aws:iam::000000000000:root"}`,
		`"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::000000000000:role/hub-RotationCheckFunctionRole"}`,
		`"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"}`,
	} {
		is.True(strings.Contains(string(trust), want)) // the hub's worker role alone, inside the organization
	}
}

// Both templates pass the real AWS linter where it is installed (CI).
func TestTemplatesPassCfnLint(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Skip("skipped: cfn-lint is not installed (pip install cfn-lint); CI runs it")
	}
	for _, f := range []string{"../template.yaml", "../member-role.yaml"} {
		if out, err := exec.Command("cfn-lint", f).CombinedOutput(); err != nil {
			t.Errorf("cfn-lint %s: %v\n%s", f, err, out)
		}
	}
}
