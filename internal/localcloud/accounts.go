package localcloud

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
)

// serveSecrets hands a Secrets Manager request to the store of the caller's
// account and region: the region of the request's credential scope, or the
// cloud's for an unsigned request.
func (c *Cloud) serveSecrets(w http.ResponseWriter, r *http.Request) {
	caller := c.accounts.Caller(r)
	region := caller.Region
	if region == "" {
		region = c.region
	}
	if len(c.regions) > 0 && !slices.Contains(c.regions, region) {
		// What AWS answers for a region an account has not enabled, with
		// the cloud's regions named.
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"__type":  "UnrecognizedClientException",
			"message": "region " + region + " is not one of the local cloud's regions (" + strings.Join(c.regions, ", ") + "; see -regions)",
		})
		return
	}
	c.secrets.Store(caller.Account, region).ServeHTTP(w, r)
}

// kumoRoles finds the default account's roles in kumo's IAM, for
// AssumeRole into the default account.
func kumoRoles(client *iam.Client) accounts.RoleLookup {
	return func(ctx context.Context, name string) (accounts.Role, bool, error) {
		out, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		var missing *iamtypes.NoSuchEntityException
		switch {
		case errors.As(err, &missing):
			return accounts.Role{}, false, nil
		case err != nil:
			return accounts.Role{}, false, err
		}
		role := out.Role
		trust := aws.ToString(role.AssumeRolePolicyDocument)
		if !strings.HasPrefix(strings.TrimSpace(trust), "{") {
			// AWS URL-encodes policy documents; kumo stores them as given.
			if t, err := url.QueryUnescape(trust); err == nil {
				trust = t
			}
		}
		// kumo's IAM puts account 123456789012 in its ARNs; the role is the
		// default account's, whose ID the rest of the cloud uses.
		arn := "arn:aws:iam::" + accounts.DefaultAccount + ":role" + cmp.Or(aws.ToString(role.Path), "/") + aws.ToString(role.RoleName)
		return accounts.Role{
			ARN: arn, ID: aws.ToString(role.RoleId), TrustPolicy: trust,
			MaxSession: time.Duration(aws.ToInt32(role.MaxSessionDuration)) * time.Second,
		}, true, nil
	}
}
