package orgscenario

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

func parseFile(t *testing.T, path string) *cfn.Template {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := cfn.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// Scenario E in-process, as make local-org runs it: the real function,
// deployed with Accounts=ORGANIZATION, fired by the scheduler on the cloud
// clock, its units run by the queue's event source mapping.
func TestScenarioE(t *testing.T) {
	is := is.New(t)
	root, err := bootstrap.ModuleRoot(".")
	is.NoErr(err)
	var report strings.Builder
	j := &Job{Hub: parseFile(t, "../../../template.yaml"), Member: parseFile(t, "../../../member-role.yaml"),
		HubPath: "template.yaml", MemberPath: "member-role.yaml", Stack: "orghub",
		Builder: &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}, Out: &report, Logs: io.Discard}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o, err := j.Run(ctx)
	t.Log(report.String())
	is.NoErr(err) // every check of scenario E passed, and teardown left nothing
	is.Equal(o.Entry.CompleteKey, tables.CompleteValue)
	is.Equal(o.Entry.UnitsFailed, 2) // 000000000000 in both regions: no member role
	dbs := 0
	for _, r := range o.Rows {
		if r.SecretName == "db" {
			dbs++
		}
	}
	is.Equal(dbs, 2) // one name, two accounts, two rows
	dbFindings := 0
	for _, f := range o.Findings {
		is.Equal(aws.ToString(f.AwsAccountId), "000000000000")                               // imported as the hub
		is.True(!strings.Contains(aws.ToString(f.Resources[0].Id), ":000000000000:secret:")) // none for the account not reporting
		if aws.ToString(f.Resources[0].Details.AwsSecretsManagerSecret.Name) == "db" {
			dbFindings++
		}
	}
	is.Equal(len(o.Findings), len(o.Rows)) // one finding per audited secret
	is.Equal(dbFindings, 2)                // db in two accounts: two findings
	is.True(strings.Contains(report.String(), "PASS  Security Hub of 000000000000"))
	is.Equal(o.Entry.Flagged, 4) // all but the rotated cache
	is.True(strings.Contains(report.String(), "PASS"))
	is.True(strings.Contains(report.String(), "PASS  the report: db twice"))         // the read side's answer checked too
	is.True(strings.Contains(report.String(), "ACCOUNTS NOT REPORTING"))             // and shown
	is.True(strings.Contains(report.String(), "PASS  the dashboard: every account")) // and the dashboard shows it
}
