package orgscenario

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Check passes the right outcome and names each way a run can be wrong:
// a row missing or twice, a replica's row, an account not reporting that
// reported, a run that did not complete.
func TestCheckNamesWhatIsWrong(t *testing.T) {
	accounts := []string{"000000000000", "111111111111", "222222222222"}
	secrets := Population([3]string{accounts[0], accounts[1], accounts[2]}, "")
	good := func() Outcome {
		o := Outcome{RunID: "run-1", Entry: RunEntry{Complete: true, CompleteKey: tables.CompleteValue, Checked: 5, Written: 5, Replicas: 1,
			UnitsExpected: 6, UnitsDone: 6, UnitsFailed: 2}}
		for _, a := range accounts {
			for _, r := range Regions {
				u := UnitItem{Unit: a + "/" + r, AccountID: a, Region: r, State: tables.UnitDone}
				if a == accounts[0] {
					u.State, u.Error = tables.UnitFailed, "api error AccessDenied: no"
				}
				o.Units = append(o.Units, u)
			}
		}
		for _, s := range secrets {
			if s.Managed && s.Account != accounts[0] {
				o.Rows = append(o.Rows, audit.Record{SecretName: s.Name, RunID: "run-1", AccountID: s.Account, Region: s.Region,
					SecretARN: "arn:aws:secretsmanager:" + s.Region + ":" + s.Account + ":secret:" + s.Name + "-x"})
			}
		}
		return o
	}
	is := is.New(t)
	is.Equal(Check(good(), secrets, accounts, accounts[:1]), nil) // the right outcome passes

	for name, tc := range map[string]struct {
		spoil func(*Outcome)
		want  string
	}{
		"a row missing": {func(o *Outcome) { o.Rows = o.Rows[1:] }, "no row for"},
		"a row twice":   {func(o *Outcome) { o.Rows = append(o.Rows, o.Rows[0]) }, "two rows"},
		"the replica's row": {func(o *Outcome) {
			r := o.Rows[1]
			r.Region = "eu-west-1"
			r.SecretARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:shared-key-x"
			o.Rows = append(o.Rows, r)
		}, "unexpected row"},
		"not complete":    {func(o *Outcome) { o.Entry.Complete, o.Entry.CompleteKey = false, "" }, "not complete"},
		"denied but done": {func(o *Outcome) { o.Units[0].State = tables.UnitDone }, "AccessDenied"},
		"a foreign ARN":   {func(o *Outcome) { o.Rows[0].SecretARN = "arn:aws:secretsmanager:us-east-1:999999999999:secret:db-x" }, "another account"},
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			o := good()
			tc.spoil(&o)
			problems := strings.Join(Check(o, secrets, accounts, accounts[:1]), "; ")
			is.True(strings.Contains(problems, tc.want)) // named
		})
	}
}

// CheckAnswer passes the right report and names each way it can be
// wrong: one name's two rows merged into one, a row without its account,
// a replica's row, an account not reporting missing from the list or
// there for another reason.
func TestCheckAnswerNamesWhatIsWrong(t *testing.T) {
	accounts := []string{"000000000000", "111111111111", "222222222222"}
	secrets := Population([3]string{accounts[0], accounts[1], accounts[2]}, "")
	good := func() report.Report {
		var rows []audit.Record
		for _, s := range secrets {
			if s.Managed && s.Account != accounts[0] {
				rows = append(rows, audit.Record{SecretName: s.Name, RunID: "run-1", AccountID: s.Account, Region: s.Region,
					SecretARN: "arn:aws:secretsmanager:" + s.Region + ":" + s.Account + ":secret:" + s.Name + "-x", Status: audit.StatusOK})
			}
		}
		var units []report.Unit
		for _, a := range accounts {
			for _, region := range Regions {
				u := report.Unit{Unit: tables.UnitOf(a, region), AccountID: a, Region: region, State: tables.UnitDone}
				if a == accounts[0] {
					u.State, u.Error = tables.UnitFailed, "assume ...: api error AccessDenied: no"
				}
				units = append(units, u)
			}
		}
		r := report.NewReport("orghub", audit.RunEntry{RunID: "run-1", Complete: true, Regions: "us-east-1,eu-west-1"}, rows, true)
		var err error
		if r.Org, err = report.NewOrganization(units, ""); err != nil {
			t.Fatal(err)
		}
		return r
	}
	is := is.New(t)
	is.Equal(CheckAnswer(good(), secrets, accounts[:1]), nil) // the right report passes

	for name, tc := range map[string]struct {
		spoil func(*report.Report)
		want  string
	}{
		"one db row": {func(r *report.Report) {
			r.Rows = slices.DeleteFunc(r.Rows, func(row audit.Record) bool { return row.SecretName == "db" && row.AccountID == accounts[2] })
		}, "no row for 222222222222/us-east-1/db"},
		"no account": {func(r *report.Report) { r.Rows[0].AccountID, r.Rows[0].SecretARN = "", "x" }, "no account or region"},
		"the replica's row": {func(r *report.Report) {
			row := r.Rows[slices.IndexFunc(r.Rows, func(row audit.Record) bool { return row.SecretName == "shared-key" })]
			row.Region = Regions[1]
			r.Rows = append(r.Rows, row)
		}, "unexpected row for 111111111111/eu-west-1/shared-key"},
		"all reporting": {func(r *report.Report) {
			org, _ := report.NewOrganization(nil, "")
			r.Org = org
		}, "lists [] as not reporting, want [000000000000]"},
		"not an organization's": {func(r *report.Report) { r.Org = nil }, "not an organization's"},
		"another reason": {func(r *report.Report) {
			for i := range r.Org.Accounts[0].Units {
				r.Org.Accounts[0].Units[i].Error = "throttled"
			}
		}, "another reason than AccessDenied"},
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			r := good()
			tc.spoil(&r)
			problems := strings.Join(CheckAnswer(r, secrets, accounts[:1]), "; ")
			is.True(strings.Contains(problems, tc.want)) // named
		})
	}
}

// CheckFindings passes the hub's right findings and names each way they
// can be wrong: a row without its finding, a finding imported as the
// member, one for the account not reporting, one not naming its account.
func TestCheckFindingsNamesWhatIsWrong(t *testing.T) {
	hub := "000000000000"
	rows := []audit.Record{
		{SecretName: "db", SecretARN: "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-x"},
		{SecretName: "db", SecretARN: "arn:aws:secretsmanager:us-east-1:222222222222:secret:db-y"},
	}
	good := func() []shtypes.AwsSecurityFinding {
		var fs []shtypes.AwsSecurityFinding
		for _, r := range rows {
			s, _ := findings.SecretOf(r.SecretName, r.SecretARN)
			s.HubAccountID, s.HubRegion, s.MaxAgeDays = hub, Regions[0], 30
			f := findings.ASFF(s)
			fs = append(fs, shtypes.AwsSecurityFinding{Id: aws.String(f.Id), AwsAccountId: aws.String(f.AwsAccountId),
				ProductArn: aws.String(f.ProductArn), ProductFields: f.ProductFields,
				Resources: []shtypes.Resource{{Id: aws.String(f.Resources[0].Id), Region: aws.String(f.Resources[0].Region)}}})
		}
		return fs
	}
	o := Outcome{RunID: "run-1", Rows: rows}
	is := is.New(t)
	is.Equal(CheckFindings(good(), o, hub, []string{hub}), nil) // the right findings pass

	for name, tc := range map[string]struct {
		spoil func([]shtypes.AwsSecurityFinding) []shtypes.AwsSecurityFinding
		want  string
	}{
		"a finding missing": {func(fs []shtypes.AwsSecurityFinding) []shtypes.AwsSecurityFinding { return fs[1:] }, "no finding"},
		"imported as the member": {func(fs []shtypes.AwsSecurityFinding) []shtypes.AwsSecurityFinding {
			fs[0].AwsAccountId = aws.String("111111111111")
			return fs
		}, "want the hub's"},
		"for the account not reporting": {func(fs []shtypes.AwsSecurityFinding) []shtypes.AwsSecurityFinding {
			fs[0].Resources[0].Id = aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:hub-only-z")
			return fs
		}, "not reporting"},
		"the member not named": {func(fs []shtypes.AwsSecurityFinding) []shtypes.AwsSecurityFinding {
			delete(fs[1].ProductFields, "rotation-audit/account_id")
			return fs
		}, "names account"},
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			problems := strings.Join(CheckFindings(tc.spoil(good()), o, hub, []string{hub}), "; ")
			is.True(strings.Contains(problems, tc.want)) // named
		})
	}
}
