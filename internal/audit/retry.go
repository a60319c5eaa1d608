package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// The retry policy: one per call path, never two stacked.
//
//   - ListSecrets, ListSecretVersionIds and the run log's PutItem: the
//     SDK's standard retryer as NewRetryer builds it, and nothing else. A
//     throttled or transient failure is retried up to maxAttempts calls
//     per request (per page), with fullJitter between them; a lookup that
//     follows a NextToken starts the next page with a fresh budget.
//   - BatchWriteItem: the SDK makes exactly one attempt (oneAttempt), and
//     writeBatch retries, in one loop of at most maxAttempts calls per
//     batch, both what the SDK would (throttling, transient errors) and
//     what it cannot see (UnprocessedItems, a success that wrote only part
//     of the batch).
//
// So no request costs more than maxAttempts calls.
const (
	// maxAttempts bounds the calls for one request, first one included.
	maxAttempts = 8
	// baseBackoff and maxBackoff shape the wait between those attempts: at
	// most 50 ms, 100 ms, 200 ms, ... up to 4 s, about 6 s in all.
	baseBackoff = 50 * time.Millisecond
	maxBackoff  = 4 * time.Second
)

// NewRetryer returns the SDK retryer of every call but BatchWriteItem's:
// the standard one (throttling, 5xx, timeouts and connection errors are
// retried) with maxAttempts, fullJitter, and no client-side retry quota.
// The quota (a token bucket shared by the client) would fail every lookup
// at once in a burst of throttling, such as the run after a tagging
// campaign; the run bounds its calls in flight instead. Set it as
// aws.Config.Retryer.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.Backoff = retry.BackoffDelayerFunc(fullJitter)
		o.RateLimiter = ratelimit.None
	})
}

// oneAttempt makes the SDK send a request once: writeBatch retries it.
func oneAttempt(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} }

// retryable reports an error worth another attempt, by the SDK's own
// standard rules (throttling, 5xx, timeouts, connection errors; never a
// cancelled context).
func retryable(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool()
}

// fullJitter waits a random time up to baseBackoff doubled per attempt,
// capped at maxBackoff, as AWS recommends for UnprocessedItems and
// throttling. The SDK's default waits a second or more after a throttle,
// up to 20 s, which would let a few throttled lookups hold up a run.
func fullJitter(attempt int, _ error) (time.Duration, error) {
	ceiling := min(baseBackoff<<min(attempt-1, 16), maxBackoff)
	return rand.N(ceiling + 1), nil
}

// wait sleeps the backoff after a failed attempt, or until ctx is done.
func (c *Checker) wait(ctx context.Context, attempt int) error {
	d, err := c.Backoff.BackoffDelay(attempt, nil)
	if err != nil {
		return fmt.Errorf("backoff: %w", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
