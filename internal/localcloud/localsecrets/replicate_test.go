package localsecrets

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
)

// partitions is one Service with a real SDK client for each (account,
// region) a test asks for, each behind its own server (the local cloud's
// front picks the store from the request's credentials instead).
type partitions struct {
	svc   *Service
	clock *fakeClock
	t     *testing.T
}

func newPartitions(t *testing.T) *partitions {
	clock := &fakeClock{t: start}
	return &partitions{svc: NewService(clock.Now), clock: clock, t: t}
}

func (p *partitions) client(account, region string) *secretsmanager.Client {
	srv := httptest.NewServer(p.svc.Store(account, region))
	p.t.Cleanup(srv.Close)
	return newClient(srv.URL)
}

func TestEachAccountAndRegionHasItsOwnSecrets(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	p := newPartitions(t)
	a1 := p.client("111111111111", "us-east-1")
	b1 := p.client("222222222222", "us-east-1")
	a2 := p.client("111111111111", "eu-west-1")

	out, err := a1.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("a1")})
	is.NoErr(err)
	is.True(strings.HasPrefix(*out.ARN, "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-")) // the ARN names region and account

	is.Equal(listNames(t, a1), []string{"db"})
	is.Equal(listNames(t, b1), []string{}) // another account sees nothing
	is.Equal(listNames(t, a2), []string{}) // the same account in another region sees nothing
	_, err = b1.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: out.ARN})
	is.Equal(errorCode(err), "ResourceNotFoundException") // not even by ARN

	// The same name is free in every other partition.
	b, err := b1.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("b1")})
	is.NoErr(err)
	is.True(strings.Contains(*b.ARN, ":us-east-1:222222222222:secret:db-"))

	// Deletion runs on the one cloud clock in every partition: a week's
	// window in one account passes without touching the other's secret.
	_, err = a1.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), RecoveryWindowInDays: aws.Int64(7)})
	is.NoErr(err)
	p.clock.Advance(8 * day)
	_, err = a1.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	is.Equal(errorCode(err), "ResourceNotFoundException") // purged after its window
	got, err := b1.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
	is.NoErr(err)
	is.Equal(*got.SecretString, "b1") // the other account's secret stays
}

func TestReplicaCopiesItsPrimaryAndRefusesChanges(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	p := newPartitions(t)
	east := p.client(account, "us-east-1")
	west := p.client(account, "eu-west-1")

	created, err := east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String("v1"),
		Tags:              []types.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}},
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("eu-west-1")}},
	})
	is.NoErr(err)
	is.Equal(len(created.ReplicationStatus), 1)
	is.Equal(created.ReplicationStatus[0].Status, types.StatusTypeInSync) // AddReplicaRegions replicates at once

	rep, err := west.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")})
	is.NoErr(err)
	is.Equal(*rep.PrimaryRegion, "us-east-1")                                          // the replica names its primary
	is.Equal(*rep.ARN, strings.Replace(*created.ARN, ":us-east-1:", ":eu-west-1:", 1)) // same ARN, other region
	is.Equal(len(rep.Tags), 1)
	is.Equal(*rep.Tags[0].Key, "Managed") // tags copied
	val, err := west.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	is.NoErr(err)
	is.Equal(*val.SecretString, "v1") // value copied

	listed, err := west.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	is.NoErr(err)
	is.Equal(*listed.SecretList[0].PrimaryRegion, "us-east-1") // ListSecrets shows PrimaryRegion
	primary, err := east.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")})
	is.NoErr(err)
	is.Equal(primary.PrimaryRegion, nil)                        // the primary has none
	is.Equal(*primary.ReplicationStatus[0].Region, "eu-west-1") // and lists its replica

	_, err = west.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("x")})
	is.Equal(errorCode(err), "InvalidRequestException") // a replica refuses changes
	_, err = west.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("app/db"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	is.Equal(errorCode(err), "InvalidRequestException")

	// Changes to the primary reach the replica.
	_, err = east.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("v2")})
	is.NoErr(err)
	_, err = east.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("app/db"), Tags: []types.Tag{{Key: aws.String("Owner"), Value: aws.String("ops")}}})
	is.NoErr(err)
	val, err = west.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	is.NoErr(err)
	is.Equal(*val.SecretString, "v2") // the new value replicated
	is.Equal(listNames(t, west, flt(types.FilterNameStringTypeTagKey, "Owner")), []string{"app/db"})

	// A primary with replicas is not deleted; removing the region deletes the replica.
	_, err = east.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/db")})
	is.Equal(errorCode(err), "InvalidRequestException")
	_, err = east.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String("app/db"), RemoveReplicaRegions: []string{"eu-west-1"}})
	is.NoErr(err)
	is.Equal(listNames(t, west), []string{}) // the replica is gone
	_, err = east.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/db")})
	is.NoErr(err)
}

func TestReplicateSecretToRegionsFailsWhereTheNameIsTaken(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	p := newPartitions(t)
	east := p.client(account, "us-east-1")
	west := p.client(account, "eu-west-1")
	north := p.client(account, "eu-north-1")
	for _, c := range []*secretsmanager.Client{east, west} {
		_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("api-key"), SecretString: aws.String("v")})
		is.NoErr(err)
	}

	out, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId:          aws.String("api-key"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("eu-west-1")}, {Region: aws.String("eu-north-1")}},
	})
	is.NoErr(err)
	is.Equal(out.ReplicationStatus[0].Status, types.StatusTypeFailed) // eu-west-1 has its own api-key
	is.Equal(out.ReplicationStatus[1].Status, types.StatusTypeInSync)
	own, err := west.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("api-key")})
	is.NoErr(err)
	is.Equal(own.PrimaryRegion, nil) // left alone
	rep, err := north.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("api-key")})
	is.NoErr(err)
	is.Equal(*rep.PrimaryRegion, "us-east-1")

	_, err = east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String("api-key"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-east-1")}},
	})
	is.Equal(errorCode(err), "InvalidParameterException") // not to its own region
}
