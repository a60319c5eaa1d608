package localcloud

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
)

// The front answers Security Hub itself (kumo has none), on the cloud
// clock, in the accounts.DefaultAccount its Secrets Manager ARNs name.
func TestFrontAnswersSecurityHub(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startCloud(t, nil)
	hub := securityhub.NewFromConfig(clientConfig(c.URL, c.region))
	s, err := findings.SecretOf("db", "arn:aws:secretsmanager:"+c.region+":"+accounts.DefaultAccount+":secret:db-AbCdEf")
	is.NoErr(err)
	s.Flagged, s.MaxAgeDays, s.CheckedAt = true, 30, cloudStart
	var f types.AwsSecurityFinding // the SDK's type reads the product's ASFF JSON as it is
	data, err := json.Marshal(findings.ASFF(s))
	is.NoErr(err)
	is.NoErr(json.Unmarshal(data, &f))
	out, err := hub.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: []types.AwsSecurityFinding{f}})
	is.NoErr(err)
	is.Equal(aws.ToInt32(out.SuccessCount), int32(1))
	got, err := hub.GetFindings(ctx, &securityhub.GetFindingsInput{Filters: &types.AwsSecurityFindingFilters{
		Id: []types.StringFilter{{Value: aws.String(findings.ID(s.ARN)), Comparison: types.StringFilterComparisonEquals}},
	}})
	is.NoErr(err)
	is.Equal(len(got.Findings), 1)
	is.Equal(got.Findings[0].Compliance.Status, types.ComplianceStatusFailed)
	processed, err := time.Parse(time.RFC3339, aws.ToString(got.Findings[0].ProcessedAt))
	is.NoErr(err)
	is.True(!processed.Before(cloudStart) && processed.Before(cloudStart.Add(time.Minute))) // stamped on the cloud clock, not today
}
