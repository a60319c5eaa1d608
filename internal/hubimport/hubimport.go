// Package hubimport sends findings to Security Hub: in batches of 100,
// within the BatchImportFindings quota (10 requests a second, bursts of
// 30, per account and region), retrying the findings Security Hub reports
// as failed a bounded number of times, and counting what was imported and
// what was not.
//
// It never decides what to import (the run does, from what changed) and
// never loses anything but findings: the run writes its audit rows first,
// and a Security Hub failure is a count and an error for its log.
package hubimport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/findings"
)

// BatchImporter is the one Security Hub call an Importer makes:
// BatchImportFindings (Transport makes it). It names no SDK type, so the
// function does not link the SDK's Security Hub package (see
// findings.SecurityFinding).
type BatchImporter interface {
	BatchImportFindings(ctx context.Context, fs []findings.SecurityFinding) (BatchOutput, error)
}

// BatchOutput is BatchImportFindings' answer: how many findings were
// imported, and those that failed.
type BatchOutput struct {
	SuccessCount   int
	FailedCount    int
	FailedFindings []FailedFinding
}

// FailedFinding is a finding Security Hub did not import, and why.
type FailedFinding struct {
	Id           string
	ErrorCode    string
	ErrorMessage string
}

// The service's limits.
const (
	// BatchSize is how many findings one call takes.
	BatchSize = 100
	// Rate and Burst are the BatchImportFindings quota: requests a second,
	// and how many may go at once.
	Rate  = 10
	Burst = 30
	// DefaultRetries is how many more times a failed finding is sent.
	DefaultRetries = 2
)

// Importer imports findings. Its zero value is not usable: set Client.
// An Importer keeps the quota across calls to Import, so reuse one per
// process; it is not safe for concurrent use.
type Importer struct {
	Client BatchImporter
	// Now and Sleep are the clock the quota is kept on; nil means the
	// real one (time.Now, and a timer that ctx can cancel).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Retries is how many more times a finding Security Hub reports as
	// failed is sent (unless its error says it is invalid); zero means
	// DefaultRetries, a negative value none.
	Retries int

	bucket bucket
}

// Result is what one Import did.
type Result struct {
	// Imported is how many findings Security Hub took, including those it
	// ignored because what it holds is as new (it counts them as taken).
	Imported int
	// Failed is how many it did not take, after the retries.
	Failed int
	// Calls is how many BatchImportFindings requests were made.
	Calls int
}

// Import sends the findings and says how many were imported and how many
// failed. The error, nil only when every finding was imported, says why
// the others were not: the first failed finding's error code and message,
// or the call that failed (after which nothing more is sent).
func (im *Importer) Import(ctx context.Context, fs []findings.SecurityFinding) (Result, error) {
	var res Result
	retries := im.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	var firstFailure error
	pending := fs
	for attempt := 0; attempt <= retries && len(pending) > 0; attempt++ {
		var again []findings.SecurityFinding
		for i := 0; i < len(pending); i += BatchSize {
			batch := pending[i:min(i+BatchSize, len(pending))]
			if err := im.bucket.take(ctx, im.now, im.sleep); err != nil {
				res.Failed = len(fs) - res.Imported
				return res, fmt.Errorf("import findings: %d of %d not imported: %w", res.Failed, len(fs), err)
			}
			res.Calls++
			out, err := im.Client.BatchImportFindings(ctx, batch)
			if err != nil {
				res.Failed = len(fs) - res.Imported
				return res, fmt.Errorf("import findings: %d of %d not imported: batch import findings: %w", res.Failed, len(fs), err)
			}
			res.Imported += out.SuccessCount
			if firstFailure == nil && len(out.FailedFindings) > 0 {
				ff := out.FailedFindings[0]
				firstFailure = fmt.Errorf("finding %s: %s: %s", ff.Id, ff.ErrorCode, ff.ErrorMessage)
			}
			again = append(again, retryable(batch, out.FailedFindings)...)
		}
		pending = again
	}
	res.Failed = len(fs) - res.Imported
	if res.Failed > 0 {
		if firstFailure == nil {
			firstFailure = errors.New("fewer findings imported than sent, and none reported as failed")
		}
		return res, fmt.Errorf("import findings: %d of %d not imported: %w", res.Failed, len(fs), firstFailure)
	}
	return res, nil
}

// retryable are a batch's failed findings worth sending again: not those
// whose error says they never will be imported as they are.
func retryable(batch []findings.SecurityFinding, failed []FailedFinding) []findings.SecurityFinding {
	byID := make(map[string][]findings.SecurityFinding, len(batch))
	for _, f := range batch {
		byID[f.Id] = append(byID[f.Id], f)
	}
	var retry []findings.SecurityFinding
	for _, ff := range failed {
		id := ff.Id
		same := byID[id]
		if len(same) == 0 {
			continue // not one this batch sent
		}
		byID[id] = same[1:]
		if !invalid(ff.ErrorCode) {
			retry = append(retry, same[0])
		}
	}
	return retry
}

// invalid reports an error code that sending the same finding again
// cannot cure: the finding breaks ASFF, or the caller may not import it.
func invalid(code string) bool {
	switch code {
	case "InvalidInput", "InvalidInputException", "AccessDenied", "AccessDeniedException":
		return true
	}
	return false
}

func (im *Importer) now() time.Time {
	if im.Now != nil {
		return im.Now()
	}
	return time.Now()
}

func (im *Importer) sleep(ctx context.Context, d time.Duration) error {
	if im.Sleep != nil {
		return im.Sleep(ctx, d)
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

// bucket is a token bucket of Burst tokens refilled at Rate a second: a
// request takes one, and waits for one when there is none. It starts full.
type bucket struct {
	tokens  float64
	last    time.Time
	started bool
}

// take takes a token, sleeping until one is there.
func (b *bucket) take(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Duration) error) error {
	for {
		t := now()
		if !b.started {
			b.tokens, b.last, b.started = Burst, t, true
		}
		if t.After(b.last) {
			b.tokens = min(Burst, b.tokens+t.Sub(b.last).Seconds()*Rate)
			b.last = t
		}
		if b.tokens >= 1-1e-9 { // a sleep of the computed wait refills one, give or take rounding
			b.tokens--
			return nil
		}
		wait := time.Duration((1 - b.tokens) / Rate * float64(time.Second))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}
