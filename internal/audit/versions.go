package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// currentStage is the staging label of a secret's current value.
const currentStage = "AWSCURRENT"

// currentVersion returns the CreatedDate of a secret's AWSCURRENT version:
// the truest age of its value. A secret has at most a few staged versions
// (deprecated ones are not listed), so this is one call; throttling is
// retried with backoff.
func (c *Checker) currentVersion(ctx context.Context, arn string) (time.Time, error) {
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn), MaxResults: aws.Int32(pageSize)}
	for attempt := 1; ; attempt++ {
		out, err := c.Secrets.ListSecretVersionIds(ctx, in)
		switch {
		case err == nil:
			for _, v := range out.Versions {
				if slices.Contains(v.VersionStages, currentStage) && v.CreatedDate != nil {
					return *v.CreatedDate, nil
				}
			}
			if out.NextToken == nil {
				return time.Time{}, errors.New("ListSecretVersionIds lists no AWSCURRENT version with a CreatedDate")
			}
			in.NextToken = out.NextToken
			continue
		case !throttled(err) || attempt == maxLookupAttempts:
			return time.Time{}, fmt.Errorf("list secret versions: %w", err)
		}
		if err := c.wait(ctx, attempt); err != nil {
			return time.Time{}, err
		}
	}
}

// throttled reports an error that asks the caller to slow down.
func throttled(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool()
}
