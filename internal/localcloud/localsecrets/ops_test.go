package localsecrets

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
)

func TestCreateSecretStampsTheCloudClockAndDescribeShowsIt(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)

	out, err := f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("app/db"),
		SecretString: aws.String("s3cret"),
		Description:  aws.String("the app's database"),
		KmsKeyId:     aws.String("alias/app"),
		Tags:         []types.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}},
	})
	is.NoErr(err)
	is.Equal(*out.Name, "app/db")
	is.True(regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-[A-Za-z0-9]{6}$`).MatchString(*out.ARN))
	is.True(out.VersionId != nil) // the SDK's ClientRequestToken became the first version

	d := f.describe(t, "app/db")
	is.Equal(*d.ARN, *out.ARN)
	is.Equal(*d.Description, "the app's database")
	is.Equal(*d.KmsKeyId, "alias/app")
	is.Equal(d.Tags, []types.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}})
	is.True(at(d.CreatedDate, start))
	is.True(at(d.LastChangedDate, start))
	is.Equal(d.VersionIdsToStages, map[string][]string{*out.VersionId: {"AWSCURRENT"}})
	// Unset fields are left out, as AWS leaves them out.
	is.Equal(d.LastAccessedDate, nil)
	is.Equal(d.LastRotatedDate, nil)
	is.Equal(d.DeletedDate, nil)
	is.Equal(d.NextRotationDate, nil)
	is.Equal(d.RotationEnabled, nil)
	is.Equal(d.OwningService, nil)
	is.Equal(d.PrimaryRegion, nil)
}

func TestCreateSecretWithoutValueHasNoVersion(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	out, err := f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")})
	is.NoErr(err)
	is.Equal(out.VersionId, nil)
	_, err = f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
	var nf *types.ResourceNotFoundException
	is.True(errors.As(err, &nf))
	is.Equal(errorMessage(err), "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
}

func TestReadingAndListingChangeNothing(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "quiet")
	first := f.describe(t, "quiet")

	f.clock.Advance(40 * day)
	f.list(t)
	_, err := f.client.ListSecretVersionIds(f.ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("quiet")})
	is.NoErr(err)
	second := f.describe(t, "quiet")

	is.Equal(first.LastChangedDate, second.LastChangedDate)
	is.Equal(second.LastAccessedDate, nil) // only GetSecretValue counts as access
	is.Equal(first.VersionIdsToStages, second.VersionIdsToStages)
}

func TestGetSecretValueRecordsTheAccessDateButChangesNothing(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	created := f.create(t, "read-me")
	f.clock.Advance(3 * day)

	v, err := f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("read-me")})
	is.NoErr(err)
	is.Equal(*v.SecretString, "v1")
	is.Equal(*v.VersionId, *created.VersionId)
	is.Equal(v.VersionStages, []string{"AWSCURRENT"})
	is.True(at(v.CreatedDate, start)) // the version's creation, not the read

	d := f.describe(t, "read-me")
	is.True(at(d.LastChangedDate, start))                       // reading is no change
	is.True(at(d.LastAccessedDate, midnight(start.Add(3*day)))) // AWS keeps a date, not a time
	is.Equal(d.LastAccessedDate.Hour(), 0)
}

func TestGetSecretValueByVersionIdAndStage(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	first := f.create(t, "versions")
	put, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("versions"), SecretString: aws.String("v2")})
	is.NoErr(err)

	prev, err := f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("versions"), VersionStage: aws.String("AWSPREVIOUS")})
	is.NoErr(err)
	is.Equal(*prev.SecretString, "v1")
	is.Equal(*prev.VersionId, *first.VersionId)

	byID, err := f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("versions"), VersionId: put.VersionId})
	is.NoErr(err)
	is.Equal(*byID.SecretString, "v2")

	_, err = f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String("versions"), VersionId: put.VersionId, VersionStage: aws.String("AWSPREVIOUS"),
	})
	var ir *types.InvalidRequestException
	is.True(errors.As(err, &ir))
	is.Equal(errorMessage(err), "You provided a VersionStage that is not associated to the provided VersionId.")
}

func TestSecretBinaryRoundTrips(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	_, err := f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: []byte{0, 1, 2, 255}})
	is.NoErr(err)
	v, err := f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	is.NoErr(err)
	is.Equal(v.SecretBinary, []byte{0, 1, 2, 255})
	is.Equal(v.SecretString, nil)
}

func TestPutSecretValueMovesTheStagesAndLastChangedDate(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	v1 := *f.create(t, "staged").VersionId

	f.clock.Advance(day)
	put2, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("staged"), SecretString: aws.String("v2")})
	is.NoErr(err)
	v2 := *put2.VersionId
	is.Equal(put2.VersionStages, []string{"AWSCURRENT"})
	d := f.describe(t, "staged")
	is.Equal(d.VersionIdsToStages, map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}})
	is.True(at(d.LastChangedDate, start.Add(day)))

	f.clock.Advance(day)
	put3, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("staged"), SecretString: aws.String("v3")})
	is.NoErr(err)
	// v1 lost its last label: deprecated, so AWS no longer shows it.
	is.Equal(f.describe(t, "staged").VersionIdsToStages, map[string][]string{v2: {"AWSPREVIOUS"}, *put3.VersionId: {"AWSCURRENT"}})

	// Other labels move only themselves.
	put4, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("staged"), SecretString: aws.String("v4"), VersionStages: []string{"AWSPENDING"},
	})
	is.NoErr(err)
	is.Equal(f.describe(t, "staged").VersionIdsToStages, map[string][]string{
		v2: {"AWSPREVIOUS"}, *put3.VersionId: {"AWSCURRENT"}, *put4.VersionId: {"AWSPENDING"},
	})
}

func TestPutSecretValueWithTheSameTokenIsIdempotent(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "retry")
	token := "11111111-2222-3333-4444-555555555555"
	put := func(value string) (*secretsmanager.PutSecretValueOutput, error) {
		return f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("retry"), SecretString: aws.String(value), ClientRequestToken: aws.String(token),
		})
	}
	first, err := put("v2")
	is.NoErr(err)
	is.Equal(*first.VersionId, token)

	f.clock.Advance(day)
	again, err := put("v2") // a retry: same token, same value
	is.NoErr(err)
	is.Equal(*again.VersionId, token)
	is.True(at(f.describe(t, "retry").LastChangedDate, start)) // nothing changed

	_, err = put("other") // same token, another value
	var ex *types.ResourceExistsException
	is.True(errors.As(err, &ex))
}

func TestListSecretVersionIdsShowsCreatedDates31DaysApart(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	v1 := *f.create(t, "aging").VersionId
	f.clock.Advance(31 * day)
	put, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("aging"), SecretString: aws.String("v2")})
	is.NoErr(err)

	out, err := f.client.ListSecretVersionIds(f.ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("aging")})
	is.NoErr(err)
	is.Equal(len(out.Versions), 2)
	is.Equal(*out.Name, "aging")
	newest, oldest := out.Versions[0], out.Versions[1] // newest first, as AWS lists them
	is.Equal(*newest.VersionId, *put.VersionId)
	is.Equal(*oldest.VersionId, v1)
	is.Equal(newest.CreatedDate.Sub(*oldest.CreatedDate), 31*day)
	is.Equal(newest.VersionStages, []string{"AWSCURRENT"})
	is.Equal(oldest.VersionStages, []string{"AWSPREVIOUS"})
	is.Equal(newest.LastAccessedDate, nil)
}

func TestListSecretVersionIdsPagesAndIncludesDeprecatedOnRequest(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "many")
	for i := 0; i < 4; i++ {
		f.clock.Advance(time.Hour)
		_, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("many"), SecretString: aws.String("v")})
		is.NoErr(err)
	}
	count := func(deprecated bool) int {
		n := 0
		pages := secretsmanager.NewListSecretVersionIdsPaginator(f.client, &secretsmanager.ListSecretVersionIdsInput{
			SecretId: aws.String("many"), IncludeDeprecated: aws.Bool(deprecated), MaxResults: aws.Int32(2),
		})
		for pages.HasMorePages() {
			p, err := pages.NextPage(f.ctx)
			is.NoErr(err)
			is.True(len(p.Versions) <= 2)
			n += len(p.Versions)
		}
		return n
	}
	is.Equal(count(false), 2) // AWSCURRENT and AWSPREVIOUS
	is.Equal(count(true), 5)  // and three deprecated versions
}

func TestUpdateSecret(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	v1 := *f.create(t, "upd").VersionId

	f.clock.Advance(day)
	out, err := f.client.UpdateSecret(f.ctx, &secretsmanager.UpdateSecretInput{
		SecretId: aws.String("upd"), Description: aws.String("new words"), KmsKeyId: aws.String("alias/other"),
	})
	is.NoErr(err)
	is.Equal(out.VersionId, nil) // metadata only: no new version
	d := f.describe(t, "upd")
	is.Equal(*d.Description, "new words")
	is.Equal(*d.KmsKeyId, "alias/other")
	is.True(at(d.LastChangedDate, start.Add(day)))
	is.Equal(d.VersionIdsToStages, map[string][]string{v1: {"AWSCURRENT"}})

	f.clock.Advance(day)
	out, err = f.client.UpdateSecret(f.ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("upd"), SecretString: aws.String("v2")})
	is.NoErr(err)
	is.True(out.VersionId != nil)
	d = f.describe(t, "upd")
	is.Equal(d.VersionIdsToStages, map[string][]string{v1: {"AWSPREVIOUS"}, *out.VersionId: {"AWSCURRENT"}})
	is.True(at(d.LastChangedDate, start.Add(2*day)))
	is.Equal(*d.Description, "new words") // left alone when not given
}

func TestRotateSecretMakesANewCurrentVersionAndStampsTheRotation(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	v1 := *f.create(t, "rot").VersionId
	f.clock.Advance(10 * day)
	now := start.Add(10 * day)

	out, err := f.client.RotateSecret(f.ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String("rot"),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:rotator"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	is.NoErr(err)
	is.True(out.VersionId != nil)

	d := f.describe(t, "rot")
	is.Equal(d.VersionIdsToStages, map[string][]string{v1: {"AWSPREVIOUS"}, *out.VersionId: {"AWSCURRENT"}})
	is.True(at(d.LastRotatedDate, now))
	is.True(at(d.LastChangedDate, now))
	is.True(at(d.NextRotationDate, now.Add(30*day)))
	is.Equal(*d.RotationEnabled, true)
	is.Equal(*d.RotationLambdaARN, "arn:aws:lambda:us-east-1:123456789012:function:rotator")
	is.Equal(*d.RotationRules.AutomaticallyAfterDays, int64(30))

	v, err := f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("rot")})
	is.NoErr(err)
	is.Equal(len(*v.SecretString), 32) // a random value stands in for the Lambda's work
	is.True(*v.SecretString != "v1")
}

func TestRotateSecretLaterOnlySavesTheSchedule(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	v1 := *f.create(t, "later").VersionId
	f.clock.Advance(day)

	out, err := f.client.RotateSecret(f.ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String("later"),
		RotateImmediately: aws.Bool(false),
		RotationRules:     &types.RotationRulesType{ScheduleExpression: aws.String("rate(10 days)")},
	})
	is.NoErr(err)
	is.Equal(out.VersionId, nil)
	d := f.describe(t, "later")
	is.Equal(d.VersionIdsToStages, map[string][]string{v1: {"AWSCURRENT"}})
	is.Equal(d.LastRotatedDate, nil)                       // never rotated
	is.True(at(d.LastChangedDate, start.Add(day)))         // the configuration changed
	is.True(at(d.NextRotationDate, start.Add(day+10*day))) // counted from now
	is.Equal(*d.RotationRules.ScheduleExpression, "rate(10 days)")

	// A cron() schedule is kept but not evaluated: no NextRotationDate.
	_, err = f.client.RotateSecret(f.ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String("later"),
		RotateImmediately: aws.Bool(false),
		RotationRules:     &types.RotationRulesType{ScheduleExpression: aws.String("cron(0 16 1,15 * ? *)")},
	})
	is.NoErr(err)
	is.Equal(f.describe(t, "later").NextRotationDate, nil)
}

func TestRotateSecretRejectsBadRules(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "bad-rules")
	_, err := f.client.RotateSecret(f.ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String("bad-rules"), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1001)},
	})
	var ip *types.InvalidParameterException
	is.True(errors.As(err, &ip))
	is.Equal(f.describe(t, "bad-rules").RotationEnabled, nil) // nothing saved
}

func TestTagAndUntagResourceMoveLastChangedDate(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "tagged", "Owner", "team-a")

	f.clock.Advance(day)
	_, err := f.client.TagResource(f.ctx, &secretsmanager.TagResourceInput{
		SecretId: aws.String("tagged"),
		Tags:     []types.Tag{{Key: aws.String("Owner"), Value: aws.String("team-b")}, {Key: aws.String("Managed"), Value: aws.String("true")}},
	})
	is.NoErr(err)
	d := f.describe(t, "tagged")
	is.Equal(d.Tags, []types.Tag{{Key: aws.String("Owner"), Value: aws.String("team-b")}, {Key: aws.String("Managed"), Value: aws.String("true")}})
	is.True(at(d.LastChangedDate, start.Add(day)))

	f.clock.Advance(day)
	_, err = f.client.UntagResource(f.ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("tagged"), TagKeys: []string{"Owner"}})
	is.NoErr(err)
	d = f.describe(t, "tagged")
	is.Equal(d.Tags, []types.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}})
	is.True(at(d.LastChangedDate, start.Add(2*day)))
}

func TestUpdateSecretVersionStage(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	v1 := *f.create(t, "labels").VersionId
	put, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("labels"), SecretString: aws.String("v2")})
	is.NoErr(err)
	v2 := *put.VersionId

	// Roll back: AWSCURRENT returns to v1, and AWSPREVIOUS follows it off v2.
	_, err = f.client.UpdateSecretVersionStage(f.ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("labels"), VersionStage: aws.String("AWSCURRENT"),
		RemoveFromVersionId: aws.String(v2), MoveToVersionId: aws.String(v1),
	})
	is.NoErr(err)
	is.Equal(f.describe(t, "labels").VersionIdsToStages, map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPREVIOUS"}})

	// A label attached elsewhere must be named where it comes from.
	_, err = f.client.UpdateSecretVersionStage(f.ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("labels"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(v2),
	})
	var ip *types.InvalidParameterException
	is.True(errors.As(err, &ip))
}

func TestDeleteSecretSchedulesTheDeletionAndRestoreCancelsIt(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "doomed")
	f.create(t, "bystander")
	f.clock.Advance(day)
	now := start.Add(day)

	del, err := f.client.DeleteSecret(f.ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("doomed")})
	is.NoErr(err)
	is.True(at(del.DeletionDate, now.Add(30*day))) // the default recovery window

	d := f.describe(t, "doomed") // still describable
	is.True(at(d.DeletedDate, now))
	is.True(at(d.LastChangedDate, now))

	_, err = f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("doomed")})
	var ir *types.InvalidRequestException
	is.True(errors.As(err, &ir))
	is.Equal(errorMessage(err), "You can't perform this operation on the secret because it was marked for deletion.")

	is.Equal(f.list(t), []string{"bystander"})
	out, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	is.NoErr(err)
	is.Equal(len(out.SecretList), 2)

	_, err = f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("doomed"), SecretString: aws.String("x")})
	is.True(errors.As(err, &ir))
	is.Equal(errorMessage(err), "You can't create this secret because a secret with this name is already scheduled for deletion.")

	_, err = f.client.DeleteSecret(f.ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("doomed")})
	is.True(errors.As(err, &ir)) // already scheduled

	f.clock.Advance(day)
	_, err = f.client.RestoreSecret(f.ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("doomed")})
	is.NoErr(err)
	d = f.describe(t, "doomed")
	is.Equal(d.DeletedDate, nil)
	is.True(at(d.LastChangedDate, now.Add(day)))
	is.Equal(f.list(t), []string{"bystander", "doomed"})
}

func TestDeletedSecretIsPurgedWhenTheWindowPassesOnTheCloudClock(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	first := f.create(t, "short-lived")
	_, err := f.client.DeleteSecret(f.ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("short-lived"), RecoveryWindowInDays: aws.Int64(7)})
	is.NoErr(err)

	f.clock.Advance(7*day - time.Second)
	f.describe(t, "short-lived") // one second left to restore

	f.clock.Advance(time.Second)
	_, err = f.client.DescribeSecret(f.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("short-lived")})
	var nf *types.ResourceNotFoundException
	is.True(errors.As(err, &nf))
	_, err = f.client.RestoreSecret(f.ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("short-lived")})
	is.True(errors.As(err, &nf))

	again := f.create(t, "short-lived") // the name is free again
	is.True(*again.ARN != *first.ARN)   // with a new random suffix
}

func TestForceDeleteRemovesTheSecretAtOnce(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	first := f.create(t, "gone")

	del, err := f.client.DeleteSecret(f.ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	is.NoErr(err)
	is.True(at(del.DeletionDate, start))
	_, err = f.client.DescribeSecret(f.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("gone")})
	var nf *types.ResourceNotFoundException
	is.True(errors.As(err, &nf))

	again := f.create(t, "gone")
	is.True(*again.ARN != *first.ARN)

	// AWS documents that forcing the deletion of a missing secret succeeds.
	_, err = f.client.DeleteSecret(f.ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("never-was"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	is.NoErr(err)
}

func TestDeleteSecretRejectsBadRecoveryOptions(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "kept")
	for _, in := range []*secretsmanager.DeleteSecretInput{
		{SecretId: aws.String("kept"), RecoveryWindowInDays: aws.Int64(6)},
		{SecretId: aws.String("kept"), RecoveryWindowInDays: aws.Int64(31)},
		{SecretId: aws.String("kept"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)},
	} {
		_, err := f.client.DeleteSecret(f.ctx, in)
		var ip *types.InvalidParameterException
		is.True(errors.As(err, &ip))
	}
	is.Equal(f.describe(t, "kept").DeletedDate, nil)
}

func TestSecretsAreAddressableByNameFullARNAndPartialARN(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	arn := *f.create(t, "prod/api-key").ARN
	partial := arn[:len(arn)-7] // without "-" and the six random characters

	for _, id := range []string{"prod/api-key", arn, partial} {
		is.Equal(*f.describe(t, id).Name, "prod/api-key")
	}
	// The name with the suffix is not an ID, as in AWS.
	suffixed := "prod/api-key" + arn[len(arn)-7:]
	_, err := f.client.DescribeSecret(f.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(suffixed)})
	var nf *types.ResourceNotFoundException
	is.True(errors.As(err, &nf))
}

func TestErrorsCarryAWSTypes(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "taken")

	_, err := f.client.DescribeSecret(f.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("missing")})
	var nf *types.ResourceNotFoundException
	is.True(errors.As(err, &nf))
	is.Equal(errorMessage(err), "Secrets Manager can't find the specified secret.")

	_, err = f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("taken"), SecretString: aws.String("x")})
	var ex *types.ResourceExistsException
	is.True(errors.As(err, &ex))
	is.Equal(errorMessage(err), "The operation failed because the secret taken already exists.")

	_, err = f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("x"), SecretBinary: []byte("y")})
	var ip *types.InvalidParameterException
	is.True(errors.As(err, &ip))

	_, err = f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("no spaces")})
	is.Equal(errorCode(err), "ValidationException")

	_, err = f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("taken")})
	var ir *types.InvalidRequestException
	is.True(errors.As(err, &ir))

	_, err = f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{NextToken: aws.String("not a token")})
	var bad *types.InvalidNextTokenException
	is.True(errors.As(err, &bad))

	_, err = f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(101)})
	is.Equal(errorCode(err), "ValidationException")
}

// CreateSecret accepts a name character exactly when its error message
// lists it: ASCII letters and digits and the symbols AWS documents. "!" is
// not one of them: it marks the secrets other AWS services manage.
func TestNameCharactersMatchTheError(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	_, err := f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("rds!cluster-1"), SecretString: aws.String("x")})
	is.Equal(errorCode(err), "ValidationException") // AWS documents /_+=.@- only
	msg := errorMessage(err)
	_, listed, ok := strings.Cut(msg, "any of the following: ")
	is.True(ok)
	listed, _, _ = strings.Cut(listed, " ")
	is.Equal(listed, "/_+=.@-")                 // what AWS's CreateSecret documentation lists
	is.True(strings.Contains(msg, "a ! marks")) // and why ! is not there

	for c := byte(' '); c <= '~'; c++ {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		name := "char" + string(rune(c)) + "name"
		_, err := f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("x")})
		if allowed := strings.ContainsRune(listed, rune(c)); allowed != (err == nil) {
			t.Errorf("CreateSecret(%q): err %v, but the message lists %q as allowed: %v", name, err, c, allowed)
		}
	}
	f.create(t, "Az09/_+=.@-") // letters and digits too
}

func TestGetRandomPassword(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)

	out, err := f.client.GetRandomPassword(f.ctx, &secretsmanager.GetRandomPasswordInput{})
	is.NoErr(err)
	is.Equal(len(*out.RandomPassword), 32) // AWS's default length

	out, err = f.client.GetRandomPassword(f.ctx, &secretsmanager.GetRandomPasswordInput{
		PasswordLength: aws.Int64(64), ExcludePunctuation: aws.Bool(true), ExcludeCharacters: aws.String("aeiouAEIOU01"),
	})
	is.NoErr(err)
	pw := *out.RandomPassword
	is.Equal(len(pw), 64)
	is.True(regexp.MustCompile(`^[b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z2-9]+$`).MatchString(pw))
	is.True(regexp.MustCompile(`[a-z]`).MatchString(pw)) // each included type appears
	is.True(regexp.MustCompile(`[A-Z]`).MatchString(pw))
	is.True(regexp.MustCompile(`[0-9]`).MatchString(pw))

	out, err = f.client.GetRandomPassword(f.ctx, &secretsmanager.GetRandomPasswordInput{
		PasswordLength: aws.Int64(5), ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), ExcludePunctuation: aws.Bool(true), IncludeSpace: aws.Bool(true),
	})
	is.NoErr(err)
	is.True(regexp.MustCompile(`^[0-9 ]{5}$`).MatchString(*out.RandomPassword))
	is.True(slices.Contains([]byte(*out.RandomPassword), ' '))

	_, err = f.client.GetRandomPassword(f.ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4097)})
	is.Equal(errorCode(err), "ValidationException")
	_, err = f.client.GetRandomPassword(f.ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(3)})
	var ip *types.InvalidParameterException
	is.True(errors.As(err, &ip)) // too short for one of each of four types
}

func TestTestingHooksMakeSecretsLookServiceOwnedOrReplicated(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.create(t, "rds-db-1234")
	f.create(t, "replicated")
	f.create(t, "plain")

	is.NoErr(f.store.SetOwningService("rds-db-1234", "rds"))
	is.NoErr(f.store.SetPrimaryRegion("replicated", "eu-west-1"))
	is.True(f.store.SetOwningService("nope", "rds") != nil)

	is.Equal(*f.describe(t, "rds-db-1234").OwningService, "rds")
	is.Equal(*f.describe(t, "replicated").PrimaryRegion, "eu-west-1")
	is.Equal(f.list(t, flt(types.FilterNameStringTypeOwningService, "RDS")), []string{"rds-db-1234"}) // any case
	is.Equal(f.list(t, flt(types.FilterNameStringTypePrimaryRegion, "eu-")), []string{"replicated"})
	is.Equal(f.list(t, flt(types.FilterNameStringTypePrimaryRegion, "!eu-")), []string{})
}
