package orgscenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/motoserver"
)

// The organization run's data plane, the same script on the embedded
// cloud and on moto: the coordinator plans three accounts in two regions,
// the worker reaches each account through AssumeRole and audits it, and
// the run completes with one row per managed secret (the same name in two
// accounts twice, a replica once). moto is the independent check that the
// accounts and regions the product relies on are AWS's, not an artefact of
// ours. moto admits every AssumeRole, so only the embedded run has an
// account whose role cannot be assumed.
func TestOrganizationDataPlaneAgreesWithMoto(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		is := is.New(t)
		ids, err := accounts.ParseAccounts("3")
		is.NoErr(err)
		cloud, err := localcloud.Start(localcloud.Options{Region: Regions[0], Accounts: ids, Regions: Regions})
		is.NoErr(err)
		t.Cleanup(func() { _ = cloud.Close() })
		for _, acct := range ids[1:] { // not the hub's own account
			createReader(t, cloud.URL, acct)
		}
		p := &DataPlane{Endpoint: cloud.URL, Accounts: [3]string{ids[0], ids[1], ids[2]}, Denied: ids[:1],
			Member: func(acct, region string) aws.Config { return as(cloud.URL, acct, region) }}
		checkDataPlane(t, p, ids)
	})
	t.Run("moto", func(t *testing.T) {
		endpoint := motoEndpoint(t)
		var ids [3]string
		for i := range ids {
			ids[i] = fmt.Sprintf("5%011d", rand.Int64N(1e11)) // fresh accounts: a shared moto keeps other tests' secrets
		}
		p := &DataPlane{Endpoint: endpoint, Accounts: ids, OneAtATime: true, Member: func(acct, region string) aws.Config {
			return motoMember(t, endpoint, acct, region)
		}}
		checkDataPlane(t, p, ids[:])
	})
}

func checkDataPlane(t *testing.T, p *DataPlane, ids []string) {
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, secrets, err := p.Run(ctx)
	is.NoErr(err)
	for _, problem := range Check(o, secrets, ids, p.Denied) {
		t.Error(problem)
	}
	is.True(o.Entry.Complete) // the run completes, with every account accounted for
}

// createReader creates the member's reader role, trusted by the hub
// account (the in-process hub acts as its root) inside the organization.
func createReader(t *testing.T, endpoint, acct string) {
	t.Helper()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},` +
		`"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"}}}]}`
	if _, err := iam.NewFromConfig(as(endpoint, acct, Regions[0])).CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String("rotation-audit-reader"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatalf("create the reader role in %s: %v", acct, err)
	}
}

// motoMember acts as a moto account: moto gives AssumeRole's keys the
// role's account.
func motoMember(t *testing.T, endpoint, acct, region string) aws.Config {
	t.Helper()
	hub := aws.Config{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	out, err := sts.NewFromConfig(hub).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + acct + ":role/setup"), RoleSessionName: aws.String("setup")})
	if err != nil {
		t.Fatalf("assume a role in %s: %v", acct, err)
	}
	k := out.Credentials
	hub.Credentials = credentials.NewStaticCredentialsProvider(*k.AccessKeyId, *k.SecretAccessKey, *k.SessionToken)
	return hub
}

// motoEndpoint is moto's URL, or the test is skipped, saying so.
func motoEndpoint(t *testing.T) string {
	return motoserver.Endpoint(t, "to check the organization's data plane against moto")
}
