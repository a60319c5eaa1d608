package audit

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"
)

// batch collects rows into batches of batchSize, across pages, and hands
// each full batch to a writer in g, waiting while Writers are busy: that
// wait is what holds the lister back, so memory stays bounded.
func (p *pipeline) batch(ctx context.Context, g *errgroup.Group) error {
	b := newBatch()
	send := func(full *batch) error {
		select {
		case p.writers <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.Go(func() error {
			defer func() { <-p.writers }()
			return p.flush(ctx, full)
		})
		return nil
	}
	for rec := range p.rows {
		if !b.add(rec) {
			continue // listed twice (ListSecrets is eventually consistent)
		}
		p.mu.Lock()
		p.res.count(rec)
		if p.r.keep != nil {
			*p.r.keep = append(*p.r.keep, rec)
		}
		p.mu.Unlock()
		if len(b.rows) == batchSize {
			if err := send(b); err != nil {
				return err
			}
			b = newBatch()
		}
	}
	if len(b.rows) == 0 {
		return nil
	}
	return send(b)
}

// batch collects the rows of one BatchWriteItem call. DynamoDB rejects a
// batch with two requests for one key, so a name is added at most once. A
// secret listed twice in different batches (ListSecrets is eventually
// consistent) is written twice under the same key, which is harmless, and
// counted twice; remembering every name would cost memory per secret.
type batch struct {
	rows  []Record
	names map[string]struct{}
}

func newBatch() *batch {
	return &batch{rows: make([]Record, 0, batchSize), names: make(map[string]struct{}, batchSize)}
}

// add appends a row unless the batch already has one for its secret.
func (b *batch) add(rec Record) bool {
	if _, dup := b.names[rec.SecretName]; dup {
		return false
	}
	b.names[rec.SecretName] = struct{}{}
	b.rows = append(b.rows, rec)
	return true
}

// flush marshals and writes one batch, counting what was written.
func (p *pipeline) flush(ctx context.Context, b *batch) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	requests := make([]dbtypes.WriteRequest, 0, len(b.rows))
	for _, rec := range b.rows {
		item, err := attributevalue.MarshalMap(rec)
		if err != nil {
			return fmt.Errorf("marshal audit row for %s: %w", rec.SecretName, err)
		}
		requests = append(requests, dbtypes.WriteRequest{PutRequest: &dbtypes.PutRequest{Item: item}})
	}
	left, err := p.c.writeBatch(ctx, requests)
	p.mu.Lock()
	p.res.Written += len(requests) - left
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("write audit batch: %w", err)
	}
	return nil
}

// writeBatch sends one BatchWriteItem and retries it, in one loop of at
// most maxAttempts calls, while it fails with a retryable error or leaves
// UnprocessedItems (the SDK itself makes one attempt per call: see
// retry.go). It returns how many of the rows are still unwritten.
func (c *Checker) writeBatch(ctx context.Context, rows []dbtypes.WriteRequest) (int, error) {
	for attempt := 1; ; attempt++ {
		out, err := c.Table.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]dbtypes.WriteRequest{c.Config.TableName: rows},
		}, oneAttempt)
		switch {
		case err != nil && !retryable(err):
			return len(rows), err
		case err != nil && attempt == maxAttempts:
			return len(rows), fmt.Errorf("%d attempts: %w", attempt, err)
		case err == nil:
			rows = out.UnprocessedItems[c.Config.TableName]
			if len(rows) == 0 {
				return 0, nil
			}
			if attempt == maxAttempts {
				return len(rows), fmt.Errorf("%d rows still unprocessed after %d attempts", len(rows), attempt)
			}
		}
		if err := c.wait(ctx, attempt); err != nil {
			return len(rows), err
		}
	}
}
