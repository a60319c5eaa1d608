package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

func TestClockAPIReadsAndMovesTheClock(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startCloud(t, nil)

	state, err := clockapi.ReadClock(ctx, c.URL)
	is.NoErr(err)
	is.True(!state.Now.Before(cloudStart))               // the cloud starts where it was told
	is.True(state.Now.Before(cloudStart.Add(time.Hour))) // and runs on real time
	is.Equal(state.Speed, 1.0)

	moved, err := clockapi.MoveClock(ctx, c.URL, clockapi.ClockMove{Advance: "31d"})
	is.NoErr(err)
	span := moved.To.Sub(moved.From)
	is.True(span > 31*24*time.Hour-time.Second && span <= 31*24*time.Hour) // durations take days
	is.Equal(moved.Fired, 0)                                               // nothing is armed

	moved, err = clockapi.MoveClock(ctx, c.URL, clockapi.ClockMove{To: "2027-02-28"})
	is.NoErr(err)
	is.Equal(moved.To, time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC)) // a date is midnight UTC

	moved, err = clockapi.MoveClock(ctx, c.URL, clockapi.ClockMove{Advance: "1d", SkipFires: true})
	is.NoErr(err)
	is.Equal(moved.To.Sub(moved.From), 24*time.Hour) // a jump, without fires
	is.Equal(moved.Fired, 0)

	_, err = clockapi.MoveClock(ctx, c.URL, clockapi.ClockMove{To: "2027-01-01T00:00:00Z"})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "the cloud clock only moves forward")) // backwards is refused
	state, err = clockapi.ReadClock(ctx, c.URL)
	is.NoErr(err)
	is.True(!state.Now.Before(moved.To)) // and did not move it
}

// heldLambda is a LambdaInvoker whose first call waits for release, so a
// test can hold an advance in the middle of its span.
type heldLambda struct {
	started chan struct{} // receives once the first call has begun
	release chan struct{} // closing it lets the first call return

	mu    sync.Mutex
	calls int
}

func (f *heldLambda) Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if first {
		f.started <- struct{}{}
		<-f.release
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`{}`)}, nil
}

// Two "advance 3d" sent together move the clock 6 days: the second waits
// for the first, then takes its own 3 days from where the first ended.
// In the synctest bubble real time stands still, so the clock moves by
// exactly what the moves add.
func TestConcurrentAdvancesAddUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		clock, err := schedule.NewClock(cloudStart, 1)
		is.NoErr(err)
		fn := &heldLambda{started: make(chan struct{}), release: make(chan struct{})}
		s := schedule.New(schedule.Options{Clock: clock, Lambda: fn})
		defer s.Close()
		is.NoErr(s.Set(&scheduler.GetScheduleOutput{
			Name: aws.String("rotcheck-daily"), ScheduleExpression: aws.String("rate(1 day)"),
			State:  schtypes.ScheduleStateEnabled,
			Target: &schtypes.Target{Arn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:rotcheck-check")},
		}))
		c := &Cloud{scheduler: s}

		answers := make(chan *httptest.ResponseRecorder, 2)
		post := func() {
			rec := httptest.NewRecorder()
			c.serve(rec, httptest.NewRequest(http.MethodPost, clockapi.ClockPath, strings.NewReader(`{"advance":"3d"}`)))
			answers <- rec
		}
		go post()
		<-fn.started // the first move is running its first fire, a day in
		go post()
		synctest.Wait() // the second move is waiting
		close(fn.release)

		var moves []clockapi.ClockMoved
		for range 2 {
			rec := <-answers
			is.Equal(rec.Code, http.StatusOK) // both moves succeed
			var moved clockapi.ClockMoved
			is.NoErr(json.NewDecoder(rec.Body).Decode(&moved))
			moves = append(moves, moved)
		}
		is.Equal(clock.Now(), cloudStart.Add(6*24*time.Hour)) // neither move lost time
		if moves[0].From.After(moves[1].From) {
			moves[0], moves[1] = moves[1], moves[0]
		}
		is.Equal(moves[0].To, moves[1].From)                     // the second starts where the first ended
		is.Equal(moves[1].To.Sub(moves[1].From), 3*24*time.Hour) // and takes its full 3 days
		is.Equal(moves[0].Fired+moves[1].Fired, 6)               // every daily fire in 6 days ran
		is.Equal(moves[0].Fired, 3)                              // 3 in each
	})
}

func TestClockAPIRefusesBadRequests(t *testing.T) {
	c := startCloud(t, nil)
	for body, want := range map[string]string{
		`{}`:                                 `give "advance"`,
		`{"advance":"1d","to":"2027-01-01"}`: "not both",
		`{"advance":"-1d"}`:                  "must be positive",
		`{"advance":"banana"}`:               "31d, 1d12h or 744h",
		`{"to":"next week"}`:                 "RFC 3339",
		`not json`:                           `want {"advance":"31d"}`,
	} {
		resp, err := http.Post(c.URL+clockapi.ClockPath, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		var e clockapi.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, want) {
			t.Errorf("POST %s: %s %q, want 400 naming %q", body, resp.Status, e.Error, want)
		}
	}
}

// The front answers Secrets Manager itself, on cloud time: the dates the
// product reads are the cloud times at which things happened.
func TestSecretsManagerRunsOnCloudTime(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	c := startCloud(t, nil)
	sm := clients(c).SecretsManager
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("clock-db"), SecretString: aws.String("v1"),
		Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}},
	})
	is.NoErr(err)
	_, err = clockapi.MoveClock(ctx, c.URL, clockapi.ClockMove{Advance: "31d"})
	is.NoErr(err)
	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: created.ARN, SecretString: aws.String("v2")})
	is.NoErr(err)

	versions, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("clock-db")})
	is.NoErr(err)
	is.Equal(len(versions.Versions), 2)
	a, b := aws.ToTime(versions.Versions[0].CreatedDate), aws.ToTime(versions.Versions[1].CreatedDate)
	gap := a.Sub(b).Abs()
	is.True(gap >= 31*24*time.Hour && gap < 31*24*time.Hour+time.Minute) // 31 days apart in cloud time

	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("clock-db")})
	is.NoErr(err)
	is.True(aws.ToTime(desc.CreatedDate).Before(cloudStart.Add(time.Hour)))                // created at the start
	is.True(!aws.ToTime(desc.LastChangedDate).Before(cloudStart.Add(31 * 24 * time.Hour))) // changed 31 days later

	listed, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{"Manag"}}},
	})
	is.NoErr(err)
	is.Equal(len(listed.SecretList), 1) // filters work: tag-key is a prefix match
	listed, err = sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{"Owner"}}},
	})
	is.NoErr(err)
	is.Equal(len(listed.SecretList), 0) // and exclude what does not match
}
