package findings

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

const secretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:payments-db-AbCdEf"

var (
	checked   = time.Date(2026, 12, 27, 11, 0, 0, 0, time.UTC)
	firstSeen = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
)

func intp(n int) *int { return &n }

// secret is a flagged secret as a run in eu-west-1 sees it.
func secret(t *testing.T) Secret {
	t.Helper()
	s, err := SecretOf("payments-db", secretARN)
	if err != nil {
		t.Fatal(err)
	}
	s.Flagged, s.Reason, s.Basis, s.AgeDays, s.MaxAgeDays = true, "older_than_max_age", "current_version", intp(31), 30
	s.Change, s.CheckedAt, s.FirstSeen = tables.ChangeNewlyFlagged, checked, firstSeen
	return s
}

func TestSecretOfReadsTheARN(t *testing.T) {
	is := is.New(t)
	s, err := SecretOf("payments-db", secretARN)
	is.NoErr(err)
	is.Equal(s.Partition, "aws")
	is.Equal(s.AccountID, "123456789012")
	is.Equal(s.Region, "eu-west-1")
	cn, err := SecretOf("x", "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbCdEf")
	is.NoErr(err)
	is.Equal(ProductARN(cn.Partition, cn.Region, cn.AccountID), "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default") // the partition follows the secret

	for _, bad := range []string{"", "payments-db", "arn:aws:sqs:us-east-1:123456789012:queue", "arn:aws:secretsmanager::123456789012:secret:x"} {
		_, err := SecretOf("payments-db", bad)
		is.True(err != nil)                                   // not a secret's ARN
		is.True(strings.Contains(err.Error(), "payments-db")) // the error names the secret
	}
}

func TestIDIsStablePerSecret(t *testing.T) {
	is := is.New(t)
	is.Equal(ID(secretARN), "secret-rotation-age/"+secretARN) // readable: the ARN itself
	long := "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("n", 512) + "-AbCdEf"
	id := ID(long)
	is.True(len(id) <= 512)                                       // what Security Hub takes
	is.True(strings.HasPrefix(id, "secret-rotation-age/sha256:")) // the ARN's digest stands in
	is.Equal(ID(long), id)                                        // stable
	is.True(ID(long+"x") != id)                                   // and distinct per secret
}

func TestASFFOfAFlaggedSecret(t *testing.T) {
	is := is.New(t)
	f := ASFF(secret(t))
	is.Equal(f.SchemaVersion, "2018-10-08")
	is.Equal(f.Id, "secret-rotation-age/"+secretARN)
	is.Equal(f.ProductArn, "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default") // the account's own default product
	is.Equal(f.AwsAccountId, "123456789012")
	is.Equal(f.GeneratorId, GeneratorID)
	is.Equal(f.CreatedAt, "2026-10-01T09:00:00.000Z") // first seen
	is.Equal(f.UpdatedAt, "2026-12-27T11:00:00.000Z") // the run's checked_at
	is.Equal(f.Title, "Secrets Manager secrets should be rotated within 30 days")
	is.True(strings.Contains(f.Description, "payments-db is 31 days old, more than the 30 days allowed"))
	is.Equal(f.FindingProviderFields.Severity.Label, SeverityMedium) // as AWS's SecretsManager.4
	is.Equal(f.FindingProviderFields.Types, []string{FindingType})
	is.Equal(f.Compliance.Status, ComplianceFailed)
	is.Equal(f.RecordState, RecordActive)
	is.True(f.Remediation != nil)
	is.Equal(len(f.Resources), 1)
	r := f.Resources[0]
	is.Equal(r.Type, "AwsSecretsManagerSecret")
	is.Equal(r.Id, secretARN)
	is.Equal(r.Region, "eu-west-1")
	is.Equal(r.Partition, "aws")
	d := r.Details.AwsSecretsManagerSecret
	is.Equal(d.Name, "payments-db")
	is.Equal(d.RotationEnabled, false)
	is.Equal(d.RotationOccurredWithinFrequency, false) // no rotation at all
	is.Equal(d.Deleted, false)
	is.Equal(f.ProductFields["rotation-audit/max_age_days"], "30")
}

func TestASFFOfAnOKAndAGoneSecret(t *testing.T) {
	is := is.New(t)
	ok := secret(t)
	ok.Flagged, ok.Reason, ok.AgeDays, ok.RotationEnabled, ok.Change = false, "within_max_age", intp(2), true, tables.ChangeResolved
	f := ASFF(ok)
	is.Equal(f.FindingProviderFields.Severity.Label, SeverityInformational)
	is.Equal(f.Compliance.Status, CompliancePassed)
	is.Equal(f.RecordState, RecordActive)
	is.True(f.Remediation == nil)                                                                  // nothing to do
	is.Equal(f.Resources[0].Details.AwsSecretsManagerSecret.RotationOccurredWithinFrequency, true) // enabled, not overdue
	ok.RotationOverdue = true
	is.Equal(ASFF(ok).Resources[0].Details.AwsSecretsManagerSecret.RotationOccurredWithinFrequency, false) // overdue

	gone := Secret{Name: "payments-db", ARN: secretARN, Partition: "aws", AccountID: "123456789012", Region: "eu-west-1",
		MaxAgeDays: 30, Change: tables.ChangeGone, CheckedAt: checked, FirstSeen: firstSeen} // a tombstone: no status
	g := ASFF(gone)
	is.Equal(g.RecordState, RecordArchived) // gone: archived
	is.Equal(g.Compliance.Status, ComplianceUnavailable)
	is.Equal(g.Resources[0].Details.AwsSecretsManagerSecret.Deleted, true)
	is.Equal(g.Id, f.Id) // the same finding as before, archived
}

// Until rows carry first_seen, a finding is created at the run's own time.
func TestCreatedWithoutFirstSeenIsTheRunsTime(t *testing.T) {
	is := is.New(t)
	s := secret(t)
	s.FirstSeen = time.Time{}
	is.Equal(ASFF(s).CreatedAt, "2026-12-27T11:00:00.000Z")
	s.FirstSeen = checked.Add(time.Hour) // after the run: impossible, so not believed
	is.Equal(s.Created(), checked)
}

func TestDescriptionFitsSecurityHub(t *testing.T) {
	is := is.New(t)
	s := secret(t)
	s.Name = strings.Repeat("é", 512) // 1024 bytes of name alone
	d := s.Description()
	is.True(len(d) <= 1024)                   // Security Hub's limit
	is.True(strings.HasSuffix(d, "…"))        // says it was cut
	is.True(strings.ToValidUTF8(d, "?") == d) // cut on a character boundary
}

// MarshalASFF writes what BatchImportFindings takes: AWS's member names,
// no nulls, nothing the builder does not set (the top-level Severity and
// Types and Workflow are the customer's), and it refuses a finding that
// lacks a required member.
func TestMarshalASFF(t *testing.T) {
	is := is.New(t)
	out, err := MarshalASFF([]SecurityFinding{ASFF(secret(t))})
	is.NoErr(err)
	is.True(!strings.Contains(string(out), "null")) // unset fields are left out
	var got []map[string]any
	is.NoErr(json.Unmarshal(out, &got))
	is.Equal(len(got), 1)
	for _, customer := range []string{"Severity", "Types", "Workflow", "Note"} {
		_, set := got[0][customer]
		is.True(!set) // the customer's
	}
	is.Equal(got[0]["Id"], "secret-rotation-age/"+secretARN)
	is.Equal(got[0]["SchemaVersion"], "2018-10-08")
	is.Equal(got[0]["FindingProviderFields"], map[string]any{
		"Severity": map[string]any{"Label": "MEDIUM", "Original": "MEDIUM"},
		"Types":    []any{FindingType},
	})
	res := got[0]["Resources"].([]any)[0].(map[string]any)
	is.Equal(res["Details"], map[string]any{"AwsSecretsManagerSecret": map[string]any{
		"Name": "payments-db", "RotationEnabled": false, "RotationOccurredWithinFrequency": false,
	}})

	none, err := MarshalASFF(nil)
	is.NoErr(err)
	is.Equal(string(none), "[]\n") // an empty array, not null

	bad := ASFF(secret(t))
	bad.Title = ""
	_, err = MarshalASFF([]SecurityFinding{bad})
	is.True(err != nil)                             // the validation ran
	is.True(strings.Contains(err.Error(), "Title")) // and names the missing field
}

func TestOCSFOfEachState(t *testing.T) {
	is := is.New(t)
	f := OCSF(secret(t))
	is.Equal(f.ClassUID, 2003)
	is.Equal(f.CategoryUID, 2)
	is.Equal(f.ActivityID, 2) // newly flagged: an update of the secret's finding
	is.Equal(f.TypeUID, 200302)
	is.Equal(f.Time, checked.UnixMilli())
	is.Equal(f.SeverityID, 3)          // Medium
	is.Equal(f.StatusID, 1)            // New
	is.Equal(f.Compliance.StatusID, 3) // Fail
	is.Equal(f.Compliance.ControlParameters, []OCSFKeyValue{{Name: "max_age_days", Value: "30"}})
	is.Equal(f.FindingInfo.UID, ID(secretARN)) // the ASFF Id
	is.Equal(f.FindingInfo.CreatedTime, firstSeen.UnixMilli())
	is.Equal(f.Metadata.Version, "1.6.0")
	is.Equal(f.Metadata.Profiles, []string{"cloud"})
	is.Equal(f.Cloud, OCSFCloud{Provider: "AWS", Account: OCSFAccount{UID: "123456789012", TypeID: 10, Type: "AWS Account"}, Region: "eu-west-1"})
	is.Equal(f.Resources, []OCSFResource{{UID: secretARN, Name: "payments-db", Type: "AwsSecretsManagerSecret", Region: "eu-west-1", CloudPartition: "aws"}})

	s := secret(t)
	s.Flagged, s.Change = false, tables.ChangeNew
	n := OCSF(s)
	is.Equal(n.ActivityID, 1) // new: created
	is.Equal(n.TypeUID, 200301)
	is.Equal(n.SeverityID, 1)          // Informational
	is.Equal(n.StatusID, 4)            // Resolved
	is.Equal(n.Compliance.StatusID, 1) // Pass

	s.Change = tables.ChangeGone
	g := OCSF(s)
	is.Equal(g.ActivityID, 3) // gone: closed
	is.Equal(g.TypeUID, 200303)
	is.Equal(g.StatusID, 5) // Archived

	s.Change, s.FirstSeen = "", time.Time{} // a row from before the change contract, never seen before
	is.Equal(OCSF(s).ActivityID, 1)
	s.FirstSeen = firstSeen // seen before
	is.Equal(OCSF(s).ActivityID, 2)
}

// In organization mode the hub imports every member's findings into its
// own Security Hub, which takes a finding under the default product only
// from the account its AwsAccountId names: the finding is the hub's, in
// the hub's region, and its resource and product fields name the member's
// secret, account and region. Its Id is still the secret's ARN's.
func TestASFFImportedByTheHub(t *testing.T) {
	is := is.New(t)
	s := secret(t) // 123456789012's secret in eu-west-1
	own := ASFF(s)
	s.HubAccountID, s.HubRegion = "000000000000", "us-east-1"
	f := ASFF(s)
	is.Equal(f.AwsAccountId, "000000000000")                                                          // the importing account
	is.Equal(f.ProductArn, "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default") // the hub's own default product
	is.Equal(f.Region, "us-east-1")
	is.Equal(f.Id, own.Id) // one finding per secret ARN, whoever imports it
	r := f.Resources[0]
	is.Equal(r.Id, secretARN) // the member's secret
	is.Equal(r.Region, "eu-west-1")
	is.Equal(r.Partition, "aws")
	is.Equal(f.ProductFields["rotation-audit/account_id"], "123456789012") // the member account, for filters
	is.Equal(f.ProductFields["rotation-audit/region"], "eu-west-1")
	is.NoErr(f.Validate())

	_, named := own.ProductFields["rotation-audit/account_id"]
	is.True(!named) // a secret's own account's finding is unchanged
}
