package localcloud

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/uuid"
	"github.com/matryer/is"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/motoserver"
)

// TestAccountSeparationAgreesWithMoto runs one script against moto, which
// separates accounts on its own terms (an account is selected by keys its
// AssumeRole issued, not by a 12-digit key), and against the embedded
// cloud: assume a role in each of three accounts, create a secret of the
// same name in each, and check that every session sees only its own
// account's secret in its own region. moto is the independent check that
// the separation the product relies on is AWS's, not an artefact of ours.
func TestAccountSeparationAgreesWithMoto(t *testing.T) {
	members := []string{"111111111111", "222222222222", "333333333333"}
	ours := startOrganization(t)
	// The embedded cloud needs the roles; moto assumes any role ARN.
	for _, acct := range members {
		trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}`
		_, err := iam.NewFromConfig(as(ours.URL, "us-east-1", acct, "x", "")).CreateRole(context.Background(), &iam.CreateRoleInput{
			RoleName: aws.String("Auditor"), AssumeRolePolicyDocument: aws.String(trust),
		})
		if err != nil {
			t.Fatalf("create role in %s: %v", acct, err)
		}
	}
	t.Run("embedded", func(t *testing.T) { checkSeparation(t, ours.URL, members) })
	t.Run("moto", func(t *testing.T) { checkSeparation(t, motoEndpoint(t), members) })
}

func checkSeparation(t *testing.T, endpoint string, members []string) {
	is := is.New(t)
	ctx := context.Background()
	// A prefix of its own, so that a moto shared with other tests (CI's)
	// lists only what this run made.
	prefix := "sep-" + uuid.NewString()[:8] + "-"
	sessions := map[string][2]aws.Config{} // account -> us-east-1, eu-west-1
	for _, acct := range members {
		out, err := sts.NewFromConfig(as(endpoint, "us-east-1", "test", "test", "")).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::" + acct + ":role/Auditor"), RoleSessionName: aws.String("separation"),
		})
		is.NoErr(err)
		k := out.Credentials
		sessions[acct] = [2]aws.Config{
			as(endpoint, "us-east-1", *k.AccessKeyId, *k.SecretAccessKey, *k.SessionToken),
			as(endpoint, "eu-west-1", *k.AccessKeyId, *k.SecretAccessKey, *k.SessionToken),
		}
		who, err := sts.NewFromConfig(sessions[acct][0]).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		is.NoErr(err)
		is.Equal(*who.Account, acct) // the issued keys act as the role's account
		_, err = secretsmanager.NewFromConfig(sessions[acct][0]).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(prefix + "db"), SecretString: aws.String(acct),
		})
		is.NoErr(err) // the same name in every account
	}
	_, err := secretsmanager.NewFromConfig(sessions[members[0]][1]).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(prefix + "eu-only"), SecretString: aws.String("eu"),
	})
	is.NoErr(err)

	for _, acct := range members {
		east := listWithPrefix(t, sessions[acct][0], prefix)
		is.Equal(len(east), 1) // one secret in its own account
		is.True(strings.Contains(east[0], ":us-east-1:"+acct+":secret:"+prefix+"db-"))
		v, err := secretsmanager.NewFromConfig(sessions[acct][0]).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(prefix + "db")})
		is.NoErr(err)
		is.Equal(*v.SecretString, acct) // its own value, not another account's
	}
	west := listWithPrefix(t, sessions[members[0]][1], prefix)
	is.Equal(len(west), 1)
	is.True(strings.Contains(west[0], ":eu-west-1:"+members[0]+":secret:"+prefix+"eu-only-")) // regions are apart too
	is.Equal(listWithPrefix(t, sessions[members[1]][1], prefix), []string{})
}

func listWithPrefix(t *testing.T, cfg aws.Config, prefix string) []string {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(cfg).ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}},
	})
	if err != nil {
		t.Fatalf("list secrets: %v", err)
	}
	arns := []string{}
	for _, s := range out.SecretList {
		if strings.HasPrefix(*s.Name, prefix) { // the embedded cloud's filter is AWS's prefix match; keep the check explicit
			arns = append(arns, *s.ARN)
		}
	}
	return arns
}

// motoEndpoint is moto's URL, or the test is skipped, saying so.
func motoEndpoint(t *testing.T) string {
	return motoserver.Endpoint(t, "to check account separation against moto")
}
