package localcloud

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
)

// startOrganization starts a cloud as `localcloud up -accounts 3 -regions
// us-east-1,eu-west-1` does.
func startOrganization(t *testing.T) *Cloud {
	t.Helper()
	ids, regions, err := accounts.ParseFlags("3", "us-east-1,eu-west-1", DefaultRegion)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(Options{ClockStart: cloudStart, Accounts: ids, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// as is an SDK configuration for an endpoint with the given keys and region.
func as(endpoint, region, key, secret, token string) aws.Config {
	return aws.Config{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider(key, secret, token)}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func secretARNs(t *testing.T, cfg aws.Config) []string {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(cfg).ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{})
	if err != nil {
		t.Fatalf("list secrets: %v", err)
	}
	arns := []string{}
	for _, s := range out.SecretList {
		arns = append(arns, *s.ARN)
	}
	return arns
}

func TestSecretsAreSeparatedByAccountAndRegion(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startOrganization(t)

	made, err := secretsmanager.NewFromConfig(as(c.URL, "us-east-1", "111111111111", "x", "")).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("payments/db"), SecretString: aws.String("v"),
	})
	is.NoErr(err)
	is.True(strings.HasPrefix(*made.ARN, "arn:aws:secretsmanager:us-east-1:111111111111:secret:payments/db-")) // the ARN names region and account

	is.Equal(secretARNs(t, as(c.URL, "us-east-1", "111111111111", "x", "")), []string{*made.ARN})
	is.Equal(secretARNs(t, as(c.URL, "us-east-1", "222222222222", "x", "")), []string{}) // invisible to another account
	is.Equal(secretARNs(t, as(c.URL, "eu-west-1", "111111111111", "x", "")), []string{}) // and to the same account in another region
	is.Equal(secretARNs(t, as(c.URL, "us-east-1", "test", "test", "")), []string{})      // and to the default account

	_, err = secretsmanager.NewFromConfig(as(c.URL, "ap-south-1", "111111111111", "x", "")).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	is.Equal(apiCode(err), "UnrecognizedClientException") // a region the cloud does not have
	_, err = Start(Options{Region: "us-west-2", Regions: []string{"us-east-1"}})
	is.True(err != nil) // the cloud's own region must be one of them
}

func TestAssumeRoleIntoADeployedMemberRole(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startOrganization(t)

	// Deploy the member template into 222222222222 in eu-west-1, as
	// `localcloud deploy -account 222222222222 -region eu-west-1` does.
	data, err := os.ReadFile("testdata/member-role.yaml")
	is.NoErr(err)
	tmpl, err := cfn.Parse(data)
	is.NoErr(err)
	d := &deploy.Deployer{Clients: deploy.NewAccountClients(c.URL, "eu-west-1", "222222222222"), Stack: "member", Logs: io.Discard, Embedded: true}
	stack, err := d.Deploy(ctx, tmpl)
	is.NoErr(err)
	is.Equal(stack.Outputs["RoleArn"], "arn:aws:iam::222222222222:role/member-audit")                                                      // the role is the member's
	is.True(strings.HasPrefix(stack.Outputs["SecretArn"], "arn:aws:secretsmanager:eu-west-1:222222222222:secret:member-probe-eu-west-1-")) // in its region
	_, err = iam.NewFromConfig(as(c.URL, "us-east-1", "test", "test", "")).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("member-audit")})
	is.Equal(apiCode(err), "NoSuchEntity") // not in the default account's IAM

	// A role whose trust policy names someone else.
	other := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}`
	_, err = iam.NewFromConfig(as(c.URL, "us-east-1", "222222222222", "x", "")).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("not-for-you"), AssumeRolePolicyDocument: aws.String(other)})
	is.NoErr(err)

	scanner := sts.NewFromConfig(as(c.URL, "us-east-1", "test", "test", ""))
	out, err := scanner.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(stack.Outputs["RoleArn"]), RoleSessionName: aws.String("audit")})
	is.NoErr(err) // the trust policy names the management account, inside the organization
	_, err = scanner.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/not-for-you"), RoleSessionName: aws.String("audit")})
	is.Equal(apiCode(err), "AccessDenied")
	_, err = scanner.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/missing"), RoleSessionName: aws.String("audit")})
	is.Equal(apiCode(err), "AccessDenied")

	keys := out.Credentials
	session := as(c.URL, "eu-west-1", *keys.AccessKeyId, *keys.SecretAccessKey, *keys.SessionToken)
	is.Equal(secretARNs(t, session), []string{stack.Outputs["SecretArn"]}) // the keys list 222222222222's secrets
	who, err := sts.NewFromConfig(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	is.NoErr(err)
	is.Equal(*who.Arn, "arn:aws:sts::222222222222:assumed-role/member-audit/audit")

	gone, err := d.Teardown(ctx, tmpl)
	is.NoErr(err)
	is.Equal(len(gone.Deleted), 2)   // the stack comes down again
	is.Equal(len(gone.Leftovers), 0) // leaving nothing behind
}

func TestAssumeRoleIntoTheDefaultAccountReadsKumosRole(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startOrganization(t)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}`
	// kumo keeps its state per process: a name no other test uses.
	_, err := iam.NewFromConfig(as(c.URL, "us-east-1", "test", "test", "")).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("accounts-test-deployer"), AssumeRolePolicyDocument: aws.String(trust)})
	is.NoErr(err)

	out, err := sts.NewFromConfig(as(c.URL, "us-east-1", "111111111111", "x", "")).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/accounts-test-deployer"), RoleSessionName: aws.String("ci"),
	})
	is.NoErr(err)
	is.Equal(*out.AssumedRoleUser.Arn, "arn:aws:sts::000000000000:assumed-role/accounts-test-deployer/ci")
	_, err = sts.NewFromConfig(as(c.URL, "us-east-1", "222222222222", "x", "")).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/accounts-test-deployer"), RoleSessionName: aws.String("ci"),
	})
	is.Equal(apiCode(err), "AccessDenied") // the trust policy names 111111111111 only
}

func TestOrganizationFromTheFront(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startOrganization(t)
	var ids []string
	pages := 0
	p := organizations.NewListAccountsPaginator(organizations.NewFromConfig(as(c.URL, "us-east-1", "test", "test", "")), &organizations.ListAccountsInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		is.NoErr(err)
		pages++
		for _, a := range page.Accounts {
			ids = append(ids, *a.Id)
		}
	}
	is.Equal(ids, []string{"000000000000", "111111111111", "222222222222"}) // the configured accounts
	is.Equal(pages, 3)                                                      // one a page
	_, err := organizations.NewFromConfig(as(c.URL, "us-east-1", "111111111111", "x", "")).ListAccounts(ctx, &organizations.ListAccountsInput{})
	is.Equal(apiCode(err), "AccessDeniedException") // a member account may not
	is.True(strings.Contains(c.Banner(), "o-localcloud"))
}

func TestWithoutAccountsNothingChanges(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startCloud(t, nil)
	is.Equal(c.Banner(), "") // no organization line
	who, err := sts.NewFromConfig(as(c.URL, "us-east-1", "test", "test", "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	is.NoErr(err)
	is.Equal(*who.Account, "000000000000")
	is.Equal(*who.Arn, "arn:aws:iam::000000000000:root") // what kumo answered before
	made, err := secretsmanager.NewFromConfig(as(c.URL, "us-east-1", "test", "test", "")).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("plain"), SecretString: aws.String("v")})
	is.NoErr(err)
	is.True(strings.HasPrefix(*made.ARN, "arn:aws:secretsmanager:us-east-1:000000000000:secret:plain-"))
	is.Equal(c.Secrets().SetOwningService("plain", "rds"), nil) // the default store is the one the API writes
	_, err = secretsmanager.NewFromConfig(as(c.URL, "eu-central-1", "test", "test", "")).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	is.NoErr(err) // without -regions any region answers
}
