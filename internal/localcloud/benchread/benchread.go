// Package benchread writes a stack's tables for the read-side benchmark
// (make bench-read): the audit table and the run log as package tables
// describes them, filled directly with a quarter of daily runs, as the
// write side would write them, with BatchWriteItem; and a proxy that
// counts what the readers read. The benchmark itself, which runs the
// rotation-audit command against them, is in cmd/rotation-audit.
//
// It imports the DynamoDB SDK and the product's contract (package tables)
// and row shapes (package audit); nothing of the product imports it.
package benchread

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// DB is the part of the DynamoDB client the generator uses.
type DB interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ DB = (*dynamodb.Client)(nil)

// CreateTables creates a stack's audit table (its run index and its
// sparse change index) and run log (its sparse index of complete runs).
func CreateTables(ctx context.Context, db DB, stack string) error {
	s := func(name string) dbtypes.AttributeDefinition {
		return dbtypes.AttributeDefinition{AttributeName: aws.String(name), AttributeType: dbtypes.ScalarAttributeTypeS}
	}
	key := func(hash, rng string) []dbtypes.KeySchemaElement {
		return []dbtypes.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: dbtypes.KeyTypeHash}, {AttributeName: aws.String(rng), KeyType: dbtypes.KeyTypeRange}}
	}
	index := func(name, hash, rng string) dbtypes.GlobalSecondaryIndex {
		return dbtypes.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: key(hash, rng), Projection: &dbtypes.Projection{ProjectionType: dbtypes.ProjectionTypeAll}}
	}
	for _, in := range []*dynamodb.CreateTableInput{{
		TableName:            aws.String(tables.AuditTable(stack)),
		BillingMode:          dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{s(tables.SecretName), s(tables.RunID), s(tables.ChangeMonth)},
		KeySchema:            key(tables.SecretName, tables.RunID),
		GlobalSecondaryIndexes: []dbtypes.GlobalSecondaryIndex{
			index(tables.RunIndex, tables.RunID, tables.SecretName), index(tables.ChangeIndex, tables.ChangeMonth, tables.RunID)},
	}, {
		TableName:              aws.String(tables.RunsTable(stack)),
		BillingMode:            dbtypes.BillingModePayPerRequest,
		AttributeDefinitions:   []dbtypes.AttributeDefinition{s(tables.Month), s(tables.RunID), s(tables.CompleteKey)},
		KeySchema:              key(tables.Month, tables.RunID),
		GlobalSecondaryIndexes: []dbtypes.GlobalSecondaryIndex{index(tables.CompleteIndex, tables.CompleteKey, tables.RunID)},
	}} {
		if _, err := db.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	return nil
}

// Options say what to generate.
type Options struct {
	Stack   string
	Secrets int       // at the start
	First   time.Time // the first run, at midnight UTC; one run a day after it
	Runs    int
	Seed    uint64
}

// Stats are what was generated.
type Stats struct {
	Rows, Changes, Runs int // Changes: rows in the change index, after the first run
	Secrets             int // at the end
}

// The shares of the secrets that change each day, in thousandths: about
// 1% of rows a day land in the change index (rotated stale secrets are
// resolved, and flagged again 30 days later; new secrets; deleted ones),
// and tag edits change rows that stay unchanged.
const (
	rotatedPerMille = 3
	taggedPerMille  = 3
	newPerMille     = 2
	deletedPerMille = 2
)

// secret is one secret of the generated world.
type secret struct {
	name   string
	value  time.Time // the date of its current value
	auto   bool      // rotated every 20 days: always ok
	status audit.Status
}

// row is an audit row as the write side stores it: the record, its change
// and, when the change is not unchanged, the change index's key.
type row struct {
	audit.Record
	Change      string `dynamodbav:"change"`
	ChangeMonth string `dynamodbav:"change_month,omitempty"`
}

// entry is a run log entry with the counts of what changed.
type entry struct {
	audit.RunEntry
	New          int `dynamodbav:"new"`
	NewlyFlagged int `dynamodbav:"newly_flagged"`
	Resolved     int `dynamodbav:"resolved"`
	Gone         int `dynamodbav:"gone"`
}

// Generate writes the runs: most secrets are stale and stay flagged, a
// third are rotated every 20 days and stay ok; each day some stale ones
// are rotated, some are tag edited, some created and some deleted.
func Generate(ctx context.Context, db DB, o Options) (Stats, error) {
	rng := rand.New(rand.NewPCG(o.Seed, 0xbe7c4))
	var world []*secret
	for i := range o.Secrets {
		s := &secret{name: fmt.Sprintf("bench-read-%06d", i), auto: i%3 == 0}
		s.value = o.First.AddDate(0, 0, -31-rng.IntN(400))
		if s.auto {
			s.value = o.First.AddDate(0, 0, -rng.IntN(20))
		}
		world = append(world, s)
	}
	next := o.Secrets
	prev := map[string]audit.Status{}
	var st Stats
	for day := range o.Runs {
		at := o.First.AddDate(0, 0, day)
		if day > 0 {
			world, next = evolve(rng, world, next, at)
		}
		runID := tables.NewRunID(at)
		e := entry{RunEntry: audit.RunEntry{Month: tables.MonthOf(at), RunID: runID, CheckedAt: at.Format(time.RFC3339), Complete: true,
			MaxAgeDays: 30, ScheduledTime: at.Format(time.RFC3339), CompleteKey: tables.CompleteValue, ExpiresAt: at.AddDate(1, 0, 0).Unix()}}
		rows := make([]row, 0, len(world)+len(world)/100)
		current := make(map[string]audit.Status, len(world))
		for _, s := range world {
			s.status, s.value = judge(s, at)
			current[s.name] = s.status
			r := newRow(s, at, runID)
			switch was, ok := prev[s.name]; {
			case !ok:
				r.Change, e.New = tables.ChangeNew, e.New+1
			case was == audit.StatusOK && s.status == audit.StatusNeedsRotation:
				r.Change, e.NewlyFlagged = tables.ChangeNewlyFlagged, e.NewlyFlagged+1
			case was == audit.StatusNeedsRotation && s.status == audit.StatusOK:
				r.Change, e.Resolved = tables.ChangeResolved, e.Resolved+1
			default:
				r.Change = tables.ChangeUnchanged
			}
			e.Checked++
			if s.status == audit.StatusNeedsRotation {
				e.Flagged++
			}
			rows = append(rows, r)
		}
		for name := range prev {
			if _, ok := current[name]; !ok {
				rows = append(rows, row{Record: audit.Record{SecretName: name, RunID: runID, CheckedAt: e.CheckedAt, ExpiresAt: e.ExpiresAt},
					Change: tables.ChangeGone})
				e.Gone++
			}
		}
		for i := range rows {
			if tables.Changed(rows[i].Change) {
				rows[i].ChangeMonth = e.Month
				if day > 0 {
					st.Changes++
				}
			}
		}
		e.Written = len(rows)
		if err := writeRows(ctx, db, tables.AuditTable(o.Stack), rows); err != nil {
			return st, err
		}
		item, err := attributevalue.MarshalMap(e)
		if err != nil {
			return st, err
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.RunsTable(o.Stack)), Item: item}); err != nil {
			return st, fmt.Errorf("put run %s: %w", runID, err)
		}
		st.Rows += len(rows)
		st.Runs++
		prev = current
	}
	st.Secrets = len(world)
	return st, nil
}

// evolve is one day of changes.
func evolve(rng *rand.Rand, world []*secret, next int, at time.Time) ([]*secret, int) {
	n := len(world)
	for range n * rotatedPerMille / 1000 {
		world[rng.IntN(n)].value = at
	}
	for range n * taggedPerMille / 1000 {
		_ = world[rng.IntN(n)] // a tag edit: its LastChangedDate moves, its value does not
	}
	for range n * deletedPerMille / 1000 {
		i := rng.IntN(len(world))
		world[i] = world[len(world)-1]
		world = world[:len(world)-1]
	}
	for range n * newPerMille / 1000 {
		world = append(world, &secret{name: fmt.Sprintf("bench-read-%06d", next), value: at, auto: next%3 == 0})
		next++
	}
	return world, next
}

// judge is a secret's status at a run, and its value's date after an
// automatic rotation.
func judge(s *secret, at time.Time) (audit.Status, time.Time) {
	value := s.value
	if s.auto && at.Sub(value) >= 20*24*time.Hour {
		value = at
	}
	if at.Sub(value) > 30*24*time.Hour {
		return audit.StatusNeedsRotation, value
	}
	return audit.StatusOK, value
}

// newRow is a secret's row in a run, with the attributes the write side
// writes.
func newRow(s *secret, at time.Time, runID string) row {
	age := int(at.Sub(s.value) / (24 * time.Hour))
	r := audit.Record{SecretName: s.name, RunID: runID, Status: s.status, Reason: audit.ReasonWithinMaxAge,
		CheckedAt: at.Format(time.RFC3339), SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:" + s.name + "-AbCdEf",
		AgeDays: &age, Basis: audit.BasisLastRotated, BasisDate: s.value.Format(time.RFC3339), RotationEnabled: s.auto,
		MaxAgeDays: 30, ExpiresAt: at.AddDate(1, 0, 0).Unix()}
	if s.status == audit.StatusNeedsRotation {
		r.Reason = audit.ReasonOlderThanMaxAge
	}
	return row{Record: r}
}

// writers bounds the BatchWriteItem calls in flight.
const writers = 8

// writeRows writes rows 25 a call, a few calls at a time, retrying what
// is left unprocessed.
func writeRows(ctx context.Context, db DB, table string, rows []row) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(writers)
	for start := 0; start < len(rows); start += 25 {
		batch := rows[start:min(start+25, len(rows))]
		g.Go(func() error {
			var reqs []dbtypes.WriteRequest
			for _, r := range batch {
				item, err := attributevalue.MarshalMap(r)
				if err != nil {
					return err
				}
				reqs = append(reqs, dbtypes.WriteRequest{PutRequest: &dbtypes.PutRequest{Item: item}})
			}
			for try := 0; len(reqs) > 0; try++ {
				if try == 10 {
					return fmt.Errorf("write %s: %d items left unprocessed", table, len(reqs))
				}
				out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dbtypes.WriteRequest{table: reqs}})
				if err != nil {
					return fmt.Errorf("write %s: %w", table, err)
				}
				reqs = out.UnprocessedItems[table]
			}
			return nil
		})
	}
	return g.Wait()
}

// Counter is a proxy to a cloud that counts the DynamoDB Queries through
// it, the items they returned and the bytes of their answers.
type Counter struct {
	next                   http.Handler
	queries, items, nbytes atomic.Int64
}

// NewCounter is a Counter in front of the endpoint at target.
func NewCounter(target *url.URL) *Counter {
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	c := &Counter{}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Header.Get("X-Amz-Target") != "DynamoDB_20120810.Query" {
			return nil
		}
		resp.Body = &counted{ReadCloser: resp.Body, c: c}
		return nil
	}
	c.next = rp
	return c
}

// ServeHTTP passes the request on, counting a Query.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.Query" {
		c.queries.Add(1)
	}
	c.next.ServeHTTP(w, r)
}

// Reset returns the Queries, items and bytes counted, and starts again.
func (c *Counter) Reset() (queries, items, bytes int64) {
	return c.queries.Swap(0), c.items.Swap(0), c.nbytes.Swap(0)
}

// counted counts a Query answer's bytes as it streams, and its items
// (its "Count") at the end.
type counted struct {
	io.ReadCloser
	c    *Counter
	tail []byte // the end of the answer so far, where "Count" is
}

func (b *counted) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.nbytes.Add(int64(n))
	b.tail = append(b.tail, p[:n]...)
	if len(b.tail) > 4096 {
		b.tail = append(b.tail[:0], b.tail[len(b.tail)-512:]...)
	}
	if err == io.EOF {
		b.c.items.Add(int64(countOf(b.tail)))
	}
	return n, err
}

// countOf reads "Count":N from the end of a Query answer.
func countOf(tail []byte) int {
	s := string(tail)
	i := strings.LastIndex(s, `"Count":`)
	if i < 0 {
		return 0
	}
	var n int
	_ = json.Unmarshal([]byte(strings.TrimLeft(strings.SplitN(s[i+len(`"Count":`):], ",", 2)[0], " ")), &n)
	return n
}
