package tests

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
)

// importCall is how the counting proxy names a BatchImportFindings call.
const importCall = "POST /findings/import"

// hubFindings are the findings the embedded cloud's Security Hub holds for
// the account's own product, by secret name, read with the real SDK
// client and its filters.
func hubFindings(t *testing.T, url string, filters *shtypes.AwsSecurityFindingFilters) map[string]shtypes.AwsSecurityFinding {
	t.Helper()
	hub := securityhub.New(securityhub.Options{Region: localcloud.DefaultRegion, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	product := findings.ProductARN("aws", localcloud.DefaultRegion, accounts.DefaultAccount)
	filters.ProductArn = []shtypes.StringFilter{{Value: aws.String(product), Comparison: shtypes.StringFilterComparisonEquals}}
	out := map[string]shtypes.AwsSecurityFinding{}
	pages := securityhub.NewGetFindingsPaginator(hub, &securityhub.GetFindingsInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		check(t, err)
		for _, f := range page.Findings {
			out[aws.ToString(f.Resources[0].Details.AwsSecretsManagerSecret.Name)] = f
		}
	}
	return out
}

// The acceptance of Security Hub findings on the real function, deployed
// with SecurityHubFindings=true on the embedded cloud: the first run makes
// one ACTIVE finding per audited secret with the right compliance status;
// a rotation and a deletion plus one run make the rotated secret's
// finding PASSED with a newer UpdatedAt and the deleted one's ARCHIVED; a
// run with nothing changed, the same UTC day, imports nothing and makes no
// Security Hub call.
func TestSecurityHubFindingsOnTheFunction(t *testing.T) {
	needsInvoke(t)
	is := is.New(t)
	ctx := context.Background()
	cloud, c, s := cloudOf(t, "vshub", timeAt("2026-09-01T00:00:00Z"), map[string]string{"SecurityHubFindings": "true"})
	sm := c.SecretsManager
	for _, name := range []string{"vshub-rotated", "vshub-deleted"} {
		_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1"),
			Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}}})
		check(t, err)
	}
	move := func(by string) {
		_, err := clockapi.MoveClock(ctx, cloud.URL, clockapi.ClockMove{Advance: by, SkipFires: true})
		check(t, err)
	}
	move("60d") // the two new secrets are flagged
	proxy := counted(t, cloud, c, s)

	first := invokeAt(t, cloud, c, s)
	is.Equal(proxy.Reset()[importCall], 1)          // one batch
	is.Equal(first.FindingsImported, first.Checked) // the first run: every audited secret
	is.Equal(first.FindingsFailed, 0)
	active := hubFindings(t, cloud.URL, &shtypes.AwsSecurityFindingFilters{
		RecordState: []shtypes.StringFilter{{Value: aws.String("ACTIVE"), Comparison: shtypes.StringFilterComparisonEquals}},
	})
	is.Equal(len(active), first.Checked) // one ACTIVE finding per secret
	rows, err := scenario.RunRows(ctx, c.DynamoDB, s, first.RunID)
	check(t, err)
	is.Equal(len(rows), len(active))
	for _, r := range rows {
		want := shtypes.ComplianceStatusPassed
		if r.Flagged() {
			want = shtypes.ComplianceStatusFailed
		}
		is.Equal(active[r.SecretName].Compliance.Status, want) // each secret's status
	}
	failed := hubFindings(t, cloud.URL, &shtypes.AwsSecurityFindingFilters{
		ComplianceStatus: []shtypes.StringFilter{{Value: aws.String("FAILED"), Comparison: shtypes.StringFilterComparisonEquals}},
	})
	is.Equal(len(failed), first.Flagged) // FAILED for each flagged secret, PASSED for the others
	is.Equal(active["vshub-rotated"].Compliance.Status, shtypes.ComplianceStatusFailed)
	before := aws.ToString(active["vshub-rotated"].UpdatedAt)

	move("1h")
	second := invokeAt(t, cloud, c, s)
	is.Equal(proxy.Reset()[importCall], 0) // nothing changed, the same UTC day: no call
	is.Equal(second.FindingsImported, 0)

	move("1h")
	_, err = sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("vshub-rotated")})
	check(t, err)
	_, err = sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("vshub-deleted"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	check(t, err)
	move("1m")
	third := invokeAt(t, cloud, c, s)
	is.Equal(proxy.Reset()[importCall], 1)
	is.Equal([]int{third.Resolved, third.Gone, third.FindingsImported, third.FindingsFailed}, []int{1, 1, 2, 0}) // the two changes
	all := hubFindings(t, cloud.URL, &shtypes.AwsSecurityFindingFilters{})
	rotated := all["vshub-rotated"]
	is.Equal(rotated.Compliance.Status, shtypes.ComplianceStatusPassed)
	is.Equal(rotated.RecordState, shtypes.RecordStateActive)
	after := aws.ToString(rotated.UpdatedAt)
	is.True(timeAt3339(t, after).After(timeAt3339(t, before))) // updated: newer
	is.Equal(all["vshub-deleted"].RecordState, shtypes.RecordStateArchived)
	is.Equal(len(all), first.Checked) // the same findings, one per secret, none added
}

// timeAt3339 reads an ASFF time (ISO 8601 with milliseconds).
func timeAt3339(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	check(t, err)
	return at
}
