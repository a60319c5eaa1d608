package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// currentStage is the staging label of a secret's current value.
const currentStage = "AWSCURRENT"

// currentVersion returns the CreatedDate of a secret's AWSCURRENT version:
// the truest age of its value. A secret has at most a few staged versions
// (deprecated ones are not listed), so this is one call; each page's
// request is retried by the SDK's retryer alone (see retry.go).
func (c *Checker) currentVersion(ctx context.Context, arn string) (time.Time, error) {
	pages := secretsmanager.NewListSecretVersionIdsPaginator(c.Secrets, &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String(arn), MaxResults: aws.Int32(pageSize),
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("list secret versions: %w", err)
		}
		for _, v := range out.Versions {
			if slices.Contains(v.VersionStages, currentStage) && v.CreatedDate != nil {
				return *v.CreatedDate, nil
			}
		}
	}
	return time.Time{}, errors.New("ListSecretVersionIds lists no AWSCURRENT version with a CreatedDate")
}
