package accounts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/matryer/is"
)

var cloudStart = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// fixture is a Directory behind a real HTTP server; what the directory
// leaves to kumo answers 501 here.
type fixture struct {
	dir *Directory
	url string
	ctx context.Context
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return cloudStart }
	}
	d := New(opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.Serve(w, r, d.Caller(r)) {
			http.Error(w, "left to kumo", http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return &fixture{dir: d, url: srv.URL, ctx: context.Background()}
}

// config is an SDK configuration with the given keys.
func (f *fixture) config(key, secret, token string) aws.Config {
	return aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(f.url),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, token),
	}
}

func (f *fixture) as(account string) aws.Config { return f.config(account, "test", "") }

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// createRole makes a role with a trust policy in the account.
func (f *fixture) createRole(t *testing.T, account, name, trust string) string {
	t.Helper()
	out, err := iam.NewFromConfig(f.as(account)).CreateRole(f.ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatalf("create role %s in %s: %v", name, account, err)
	}
	return *out.Role.Arn
}

func TestIAMRolesBelongToOneAccount(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, Options{})
	a := iam.NewFromConfig(f.as("111111111111"))
	b := iam.NewFromConfig(f.as("222222222222"))
	trust := allow(`{"AWS":"000000000000"}`, "")

	created, err := a.CreateRole(f.ctx, &iam.CreateRoleInput{
		RoleName: aws.String("Auditor"), AssumeRolePolicyDocument: aws.String(trust), Path: aws.String("/audit/"),
		Tags: []iamtypes.Tag{{Key: aws.String("Team"), Value: aws.String("security")}},
	})
	is.NoErr(err)
	is.Equal(*created.Role.Arn, "arn:aws:iam::111111111111:role/audit/Auditor") // the account and path in the ARN
	_, err = b.GetRole(f.ctx, &iam.GetRoleInput{RoleName: aws.String("Auditor")})
	is.Equal(code(err), "NoSuchEntity") // another account has no such role
	_, err = a.CreateRole(f.ctx, &iam.CreateRoleInput{RoleName: aws.String("Auditor"), AssumeRolePolicyDocument: aws.String(trust)})
	is.Equal(code(err), "EntityAlreadyExists")
	_, err = a.CreateRole(f.ctx, &iam.CreateRoleInput{RoleName: aws.String("Bad"), AssumeRolePolicyDocument: aws.String("{nope")})
	is.Equal(code(err), "MalformedPolicyDocument")

	got, err := a.GetRole(f.ctx, &iam.GetRoleInput{RoleName: aws.String("Auditor")})
	is.NoErr(err)
	doc, err := url.QueryUnescape(*got.Role.AssumeRolePolicyDocument)
	is.NoErr(err)
	is.Equal(doc, trust) // the trust policy is stored, URL-encoded as IAM returns it
	is.Equal(*got.Role.Tags[0].Value, "security")

	_, err = a.TagRole(f.ctx, &iam.TagRoleInput{RoleName: aws.String("Auditor"), Tags: []iamtypes.Tag{{Key: aws.String("Env"), Value: aws.String("prod")}}})
	is.NoErr(err)
	_, err = a.UntagRole(f.ctx, &iam.UntagRoleInput{RoleName: aws.String("Auditor"), TagKeys: []string{"Team"}})
	is.NoErr(err)
	tags, err := a.ListRoleTags(f.ctx, &iam.ListRoleTagsInput{RoleName: aws.String("Auditor")})
	is.NoErr(err)
	is.Equal(len(tags.Tags), 1)
	is.Equal(*tags.Tags[0].Key, "Env")

	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}]}`
	_, err = a.PutRolePolicy(f.ctx, &iam.PutRolePolicyInput{RoleName: aws.String("Auditor"), PolicyName: aws.String("read"), PolicyDocument: aws.String(policy)})
	is.NoErr(err)
	names, err := a.ListRolePolicies(f.ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("Auditor")})
	is.NoErr(err)
	is.Equal(names.PolicyNames, []string{"read"})
	pol, err := a.GetRolePolicy(f.ctx, &iam.GetRolePolicyInput{RoleName: aws.String("Auditor"), PolicyName: aws.String("read")})
	is.NoErr(err)
	doc, _ = url.QueryUnescape(*pol.PolicyDocument)
	is.Equal(doc, policy)

	_, err = a.DeleteRole(f.ctx, &iam.DeleteRoleInput{RoleName: aws.String("Auditor")})
	is.Equal(code(err), "DeleteConflict") // inline policies first, as on AWS
	_, err = a.DeleteRolePolicy(f.ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("Auditor"), PolicyName: aws.String("read")})
	is.NoErr(err)
	_, err = a.DeleteRole(f.ctx, &iam.DeleteRoleInput{RoleName: aws.String("Auditor")})
	is.NoErr(err)
	_, err = a.GetRole(f.ctx, &iam.GetRoleInput{RoleName: aws.String("Auditor")})
	is.Equal(code(err), "NoSuchEntity")
}

func TestAssumeRoleChecksTheRoleAndItsTrustPolicy(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, Options{Accounts: []string{"000000000000", "111111111111", "222222222222"}})
	auditor := f.createRole(t, "222222222222", "Auditor", allow(`{"AWS":"arn:aws:iam::000000000000:root"}`, ""))
	closed := f.createRole(t, "222222222222", "Closed", allow(`{"AWS":"arn:aws:iam::111111111111:root"}`, ""))
	stsDefault := sts.NewFromConfig(f.config("test", "test", ""))

	_, err := stsDefault.AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(closed), RoleSessionName: aws.String("s")})
	is.Equal(code(err), "ValidationError") // a session name of one character
	_, err = stsDefault.AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(closed), RoleSessionName: aws.String("audit")})
	is.Equal(code(err), "AccessDenied") // the trust policy names another account
	_, err = stsDefault.AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/Nope"), RoleSessionName: aws.String("audit")})
	is.Equal(code(err), "AccessDenied") // no such role: the same answer, as on AWS

	out, err := stsDefault.AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(auditor), RoleSessionName: aws.String("audit"), DurationSeconds: aws.Int32(900)})
	is.NoErr(err)
	is.Equal(*out.AssumedRoleUser.Arn, "arn:aws:sts::222222222222:assumed-role/Auditor/audit")
	is.Equal((*out.Credentials.AccessKeyId)[:4], "ASIA")                  // temporary keys
	is.Equal(*out.Credentials.Expiration, cloudStart.Add(15*time.Minute)) // on the cloud clock

	session := f.config(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	who, err := sts.NewFromConfig(session).GetCallerIdentity(f.ctx, &sts.GetCallerIdentityInput{})
	is.NoErr(err)
	is.Equal(*who.Account, "222222222222") // the keys act as the role's account
	is.Equal(*who.Arn, "arn:aws:sts::222222222222:assumed-role/Auditor/audit")
	is.Equal(*who.UserId, *out.AssumedRoleUser.AssumedRoleId)

	plain, err := sts.NewFromConfig(f.as("111111111111")).GetCallerIdentity(f.ctx, &sts.GetCallerIdentityInput{})
	is.NoErr(err)
	is.Equal(*plain.Arn, "arn:aws:iam::111111111111:root") // a 12-digit key is that account's root
	def, err := stsDefault.GetCallerIdentity(f.ctx, &sts.GetCallerIdentityInput{})
	is.NoErr(err)
	is.Equal(*def.Account, DefaultAccount) // any other key is the default account
}

func TestAssumeRoleFromASessionUsesTheRoleAsPrincipal(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, Options{Accounts: []string{"000000000000", "111111111111"}})
	hub := f.createRole(t, "111111111111", "Hub", allow(`{"AWS":"000000000000"}`, ""))
	spoke := f.createRole(t, "111111111111", "Spoke", allow(`"*"`,
		`{"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Hub"}}`))

	_, err := sts.NewFromConfig(f.config("test", "test", "")).AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(spoke), RoleSessionName: aws.String("direct")})
	is.Equal(code(err), "AccessDenied") // the account root is not the Hub role

	out, err := sts.NewFromConfig(f.config("test", "test", "")).AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(hub), RoleSessionName: aws.String("hop")})
	is.NoErr(err)
	hubSession := sts.NewFromConfig(f.config(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken))
	chained, err := hubSession.AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(spoke), RoleSessionName: aws.String("hop2")})
	is.NoErr(err) // aws:PrincipalArn of a Hub session is the Hub role's ARN
	is.Equal(*chained.AssumedRoleUser.Arn, "arn:aws:sts::111111111111:assumed-role/Spoke/hop2")

	outside := newFixture(t, Options{}) // no organization: aws:PrincipalOrgID is absent
	hub2 := outside.createRole(t, "111111111111", "Hub", allow(`{"AWS":"000000000000"}`, ""))
	spoke2 := outside.createRole(t, "111111111111", "Spoke", allow(`"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"}}`))
	out, err = sts.NewFromConfig(outside.config("test", "test", "")).AssumeRole(outside.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(hub2), RoleSessionName: aws.String("hop")})
	is.NoErr(err)
	_, err = sts.NewFromConfig(outside.config(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)).
		AssumeRole(outside.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(spoke2), RoleSessionName: aws.String("hop2")})
	is.Equal(code(err), "AccessDenied") // outside an organization the condition fails
}

func TestAssumeRoleIntoTheDefaultAccountAsksKumo(t *testing.T) {
	is := is.New(t)
	var asked []string
	f := newFixture(t, Options{DefaultRoles: func(_ context.Context, name string) (Role, bool, error) {
		asked = append(asked, name)
		if name != "Deployer" {
			return Role{}, false, nil
		}
		return Role{ARN: "arn:aws:iam::000000000000:role/Deployer", ID: "AROAKUMO", TrustPolicy: allow(`{"AWS":"111111111111"}`, "")}, true, nil
	}})
	c := sts.NewFromConfig(f.as("111111111111"))
	out, err := c.AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/Deployer"), RoleSessionName: aws.String("ci")})
	is.NoErr(err)
	is.Equal(*out.AssumedRoleUser.AssumedRoleId, "AROAKUMO:ci")
	_, err = c.AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/Other"), RoleSessionName: aws.String("ci")})
	is.Equal(code(err), "AccessDenied")
	is.Equal(asked, []string{"Deployer", "Other"}) // the default account's roles are kumo's

	_, err = iam.NewFromConfig(f.config("test", "test", "")).GetRole(f.ctx, &iam.GetRoleInput{RoleName: aws.String("Deployer")})
	is.True(err != nil) // the default account's IAM is left to kumo (501 here)
	is.Equal(code(err), "")
}

func TestOrganizationListsItsAccountsToItsManagementAccount(t *testing.T) {
	is := is.New(t)
	ids, err := ParseAccounts("5")
	is.NoErr(err)
	f := newFixture(t, Options{Accounts: ids})
	mgmt := organizations.NewFromConfig(f.config("test", "test", ""))

	var pages [][]string
	var all []string
	p := organizations.NewListAccountsPaginator(mgmt, &organizations.ListAccountsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(f.ctx)
		is.NoErr(err)
		var got []string
		for _, a := range page.Accounts {
			got = append(got, *a.Id)
			is.Equal(a.Status, orgtypes.AccountStatusActive)
		}
		pages = append(pages, got)
		all = append(all, got...)
	}
	is.Equal(len(pages), 3)                      // 5 accounts, 2 a page
	is.Equal(all, ids)                           // every account once, in a stable order
	is.Equal(pages[2], []string{"444444444444"}) // the last page is short
	_, err = organizations.NewFromConfig(f.as("111111111111")).ListAccounts(f.ctx, &organizations.ListAccountsInput{})
	is.Equal(code(err), "AccessDeniedException") // a member may not list them

	_, err = mgmt.CloseAccount(f.ctx, &organizations.CloseAccountInput{AccountId: aws.String("333333333333")})
	is.NoErr(err)
	byParent, err := mgmt.ListAccountsForParent(f.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(RootID)})
	is.NoErr(err)
	is.Equal(len(byParent.Accounts), 5)
	is.Equal(byParent.Accounts[3].Status, orgtypes.AccountStatusSuspended) // a closed account stays listed, suspended
	_, err = mgmt.ListAccountsForParent(f.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-none")})
	is.Equal(code(err), "ParentNotFoundException")
	roots, err := mgmt.ListRoots(f.ctx, &organizations.ListRootsInput{})
	is.NoErr(err)
	is.Equal(*roots.Roots[0].Id, RootID)

	member := organizations.NewFromConfig(f.as("222222222222"))
	org, err := member.DescribeOrganization(f.ctx, &organizations.DescribeOrganizationInput{})
	is.NoErr(err) // any member may describe the organization
	is.Equal(*org.Organization.MasterAccountId, DefaultAccount)
	_, err = organizations.NewFromConfig(f.as("999999999999")).DescribeOrganization(f.ctx, &organizations.DescribeOrganizationInput{})
	is.Equal(code(err), "AWSOrganizationsNotInUseException") // an outsider is in none

	// A delegated administrator may list the accounts; only the management account registers one.
	_, err = member.RegisterDelegatedAdministrator(f.ctx, &organizations.RegisterDelegatedAdministratorInput{AccountId: aws.String("222222222222"), ServicePrincipal: aws.String("securityhub.amazonaws.com")})
	is.Equal(code(err), "AccessDeniedException")
	_, err = mgmt.RegisterDelegatedAdministrator(f.ctx, &organizations.RegisterDelegatedAdministratorInput{AccountId: aws.String("222222222222"), ServicePrincipal: aws.String("securityhub.amazonaws.com")})
	is.NoErr(err)
	listed, err := member.ListAccounts(f.ctx, &organizations.ListAccountsInput{})
	is.NoErr(err)
	is.Equal(len(listed.Accounts), 5)
	admins, err := mgmt.ListDelegatedAdministrators(f.ctx, &organizations.ListDelegatedAdministratorsInput{})
	is.NoErr(err)
	is.Equal(*admins.DelegatedAdministrators[0].Id, "222222222222")

	_, err = mgmt.ListAccounts(f.ctx, &organizations.ListAccountsInput{NextToken: aws.String("bogus")})
	is.Equal(code(err), "InvalidInputException")
	is.Equal(f.dir.Organization(), "organization o-localcloud: management account 000000000000, members 111111111111, 222222222222, 333333333333, 444444444444")
}

func TestOrganizationLineStaysShort(t *testing.T) {
	is := is.New(t)
	ids, err := ParseAccounts("40")
	is.NoErr(err)
	is.Equal(New(Options{Accounts: ids}).Organization(),
		"organization o-localcloud: management account 000000000000, members 111111111111, 222222222222, ..., 100000000039, (39 members)")
	is.Equal(New(Options{Accounts: ids[:1]}).Organization(), "organization o-localcloud: management account 000000000000, no members")
}

func TestNoOrganizationLeavesOrganizationsToKumo(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, Options{})
	_, err := organizations.NewFromConfig(f.config("test", "test", "")).ListAccounts(f.ctx, &organizations.ListAccountsInput{})
	is.True(err != nil)
	is.Equal(code(err), "") // a 501 from the fixture, not an answer of the directory
	is.Equal(f.dir.Organization(), "")
}

// A function runs as a session of its execution role, as on Lambda, so a
// member's trust policy that names the hub's function role by
// aws:PrincipalArn admits the function and nobody else of the hub account.
func TestExecutionSessionActsAsTheFunctionsRole(t *testing.T) {
	is := is.New(t)
	fnRole := "arn:aws:iam::000000000000:role/hub-RotationCheckFunctionRole"
	f := newFixture(t, Options{Accounts: []string{"000000000000", "111111111111"}, DefaultRoles: func(_ context.Context, name string) (Role, bool, error) {
		if name != "hub-RotationCheckFunctionRole" {
			return Role{}, false, nil
		}
		return Role{ARN: fnRole, ID: "AROAFN", TrustPolicy: allow(`{"Service":"lambda.amazonaws.com"}`, "")}, true, nil
	}})
	reader := f.createRole(t, "111111111111", "rotation-audit-reader", allow(`{"AWS":"arn:aws:iam::000000000000:root"}`,
		`{"ArnEquals":{"aws:PrincipalArn":"`+fnRole+`"},"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"}}`))

	_, err := sts.NewFromConfig(f.config("test", "test", "")).AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(reader), RoleSessionName: aws.String("root")})
	is.Equal(code(err), "AccessDenied") // the hub account's root is not the function's role

	// kumo writes 123456789012 into its role ARNs: the role is still found.
	key, secret, token, err := f.dir.ExecutionSession(f.ctx, "arn:aws:iam::123456789012:role/hub-RotationCheckFunctionRole", "hub-check")
	is.NoErr(err)
	fn := f.config(key, secret, token)
	who, err := sts.NewFromConfig(fn).GetCallerIdentity(f.ctx, &sts.GetCallerIdentityInput{})
	is.NoErr(err)
	is.Equal(*who.Arn, "arn:aws:sts::000000000000:assumed-role/hub-RotationCheckFunctionRole/hub-check")
	_, err = sts.NewFromConfig(fn).AssumeRole(f.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(reader), RoleSessionName: aws.String("unit")})
	is.NoErr(err) // the function's role is admitted

	_, _, _, err = f.dir.ExecutionSession(f.ctx, "arn:aws:iam::000000000000:role/Missing", "x")
	is.True(err != nil) // no session for a role that does not exist
}
