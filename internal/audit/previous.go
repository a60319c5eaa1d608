package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Querier is the part of the DynamoDB client that reads the previous run.
type Querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ Querier = (*dynamodb.Client)(nil)

// What changed in a secret since its previous row (Record.Changed), the
// first that applies.
const (
	// ChangedRecreated: its CreatedDate moved: deleted and created again
	// under the same name.
	ChangedRecreated = "recreated"
	// ChangedRotation: its LastRotatedDate moved: a rotation made a new
	// value.
	ChangedRotation = "rotation"
	// ChangedValue: a new current value, known by the value's own date
	// (a ListSecretVersionIds lookup): a value put by hand.
	ChangedValue = "value"
	// ChangedMetadata: its LastChangedDate moved and no new value is
	// known: a tag or description edit, or, when the run could judge the
	// secret without looking its value up (a young secret, a recent
	// rotation), possibly a value put by hand.
	ChangedMetadata = "metadata"
)

// prior is what a run keeps of one secret's row in the previous run: what
// the comparison and the incremental value age need, and no more, so the
// map of a 50,000-secret run stays a few megabytes (BenchmarkBaseline).
// Dates are Unix nanoseconds, 0 for none.
type prior struct {
	created, lastChanged, lastRotated int64
	// basisDate is the value's own date when valueDated, else 0.
	basisDate int64
	// firstSeen is in Unix seconds; 0 when the row predates first_seen.
	firstSeen int64
	flagged   bool
	// looked: the row was judged by its current version's date (basis
	// current_version), which a run with the same dates can reuse.
	looked bool
	// valueDated: the basis date is the value's own (current_version or
	// last_rotated), not a bound.
	valueDated bool
	// seen: this run listed the secret.
	seen bool
	// arn is the secret's ARN, for its tombstone: a gone secret's
	// Security Hub finding is archived under the ID its ARN makes.
	arn string
}

// dated reports whether the row recorded the dates it was judged from:
// rows written before they were have no created_date (every secret has
// a CreatedDate).
func (pr prior) dated() bool { return pr.created != 0 }

// sameDates reports whether a secret's dates are those of its previous
// row: then neither its value nor its metadata changed since.
func (pr prior) sameDates(f Facts) bool {
	return pr.dated() && pr.created == nanos(f.Created) && pr.lastChanged == nanos(f.LastChanged) && pr.lastRotated == nanos(f.LastRotated)
}

// reuse is the incremental value age: a secret whose previous row was
// judged by its current version's date, and whose dates have not moved
// since, still has that value, so the row's basis date is reused and no
// ListSecretVersionIds call is made. The date is basis_date's, to the
// second.
func (pr prior) reuse(f Facts) (time.Time, bool) {
	if !pr.looked || !pr.sameDates(f) {
		return time.Time{}, false
	}
	return time.Unix(0, pr.basisDate).UTC(), true
}

// compare is what changed since the previous row (had is false when the
// previous run had none): the row's change, by status, and what changed
// in the secret, whatever its status did. prevAt is when the previous run
// judged.
func compare(pr prior, had bool, f Facts, v Verdict, prevAt time.Time) (change, changed string) {
	if !had {
		return tables.ChangeNew, ""
	}
	flagged := v.Status == StatusNeedsRotation
	switch {
	case flagged && !pr.flagged:
		change = tables.ChangeNewlyFlagged
	case !flagged && pr.flagged:
		change = tables.ChangeResolved
	default:
		change = tables.ChangeUnchanged
	}
	if !pr.dated() {
		return change, "" // what moved is unknown
	}
	switch {
	case pr.created != nanos(f.Created):
		changed = ChangedRecreated
	case pr.lastRotated != nanos(f.LastRotated):
		changed = ChangedRotation
	case newValue(pr, v, prevAt):
		changed = ChangedValue
	case pr.lastChanged != nanos(f.LastChanged):
		changed = ChangedMetadata
	}
	return change, changed
}

// newValue reports a new current value known by its own date: a date
// other than the previous row's (to the second, as basis_date records
// it), or, when that row had only a bound, a date after the previous run.
func newValue(pr prior, v Verdict, prevAt time.Time) bool {
	if v.Basis != BasisCurrentVersion && v.Basis != BasisLastRotated {
		return false
	}
	if pr.valueDated {
		return v.BasisDate.Truncate(time.Second).UnixNano() != pr.basisDate
	}
	return v.BasisDate.After(prevAt)
}

// nanos is a date in Unix nanoseconds, 0 for none.
func nanos(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// baseline is the previous complete run of the stack: its ID, when it
// judged, and a prior per secret it recorded. A nil baseline is the first
// run: every secret is new.
type baseline struct {
	runID   string
	at      time.Time
	secrets map[string]prior
}

// take returns the previous row of a secret, and marks the secret as
// listed by this run. Only the lister calls it.
func (b *baseline) take(name string) (prior, bool) {
	if b == nil {
		return prior{}, false
	}
	pr, ok := b.secrets[name]
	if ok && !pr.seen {
		pr.seen = true
		b.secrets[name] = pr
	}
	return pr, ok
}

// gone lists, sorted, the previous run's secrets this run did not list.
func (b *baseline) gone() []string {
	if b == nil {
		return nil
	}
	var names []string
	for name, pr := range b.secrets {
		if !pr.seen {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// priorRow is the part of an audit row a run reads back (comparedAttrs).
type priorRow struct {
	SecretName      string `dynamodbav:"secret_name"`
	SecretARN       string `dynamodbav:"secret_arn"`
	Status          Status `dynamodbav:"status"`
	Basis           Basis  `dynamodbav:"basis"`
	BasisDate       string `dynamodbav:"basis_date"`
	CreatedDate     string `dynamodbav:"created_date"`
	LastChangedDate string `dynamodbav:"last_changed_date"`
	LastRotatedDate string `dynamodbav:"last_rotated_date"`
	FirstSeen       string `dynamodbav:"first_seen"`
	Change          string `dynamodbav:"change"`
	Region          string `dynamodbav:"region"` // organization mode only
}

// comparedAttrs are the attributes of priorRow: the by-run Query of the
// previous run projects only these.
var comparedAttrs = []string{tables.SecretName, tables.SecretARN, "status", "basis", "basis_date", "created_date",
	"last_changed_date", "last_rotated_date", "first_seen", tables.Change, tables.Region}

// prior is the compact form of a row; a date it cannot read counts as
// none, which only costs a lookup.
func (r priorRow) prior() prior {
	pr := prior{
		created: parseNanos(r.CreatedDate), lastChanged: parseNanos(r.LastChangedDate), lastRotated: parseNanos(r.LastRotatedDate),
		flagged: r.Status == StatusNeedsRotation,
		looked:  r.Basis == BasisCurrentVersion,
		arn:     r.SecretARN,
	}
	pr.valueDated = pr.looked || r.Basis == BasisLastRotated
	if pr.valueDated {
		pr.basisDate = parseNanos(r.BasisDate)
		pr.looked = pr.looked && pr.basisDate != 0
	}
	if t, err := time.Parse(time.RFC3339, r.FirstSeen); err == nil {
		pr.firstSeen = t.Unix()
	}
	return pr
}

// firstSeen is the first_seen of a secret's row: carried from its
// previous row, or now for a new secret. A previous row written before
// first_seen was recorded gives the previous run's time, the earliest
// the audit can vouch for.
func (b *baseline) firstSeen(pr prior, had bool, now string) string {
	switch {
	case !had:
		return now
	case pr.firstSeen != 0:
		return time.Unix(pr.firstSeen, 0).UTC().Format(time.RFC3339)
	}
	return b.at.UTC().Format(time.RFC3339)
}

// judgedAt is when the previous run judged; zero for the first run.
func (b *baseline) judgedAt() time.Time {
	if b == nil {
		return time.Time{}
	}
	return b.at
}

func parseNanos(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return nanos(&t)
}

// MaxStepsBack bounds how many complete runs an organization unit steps
// back over, looking for the last one in which it was done (UnitDone):
// 48 runs, two days of an hourly schedule. A unit failed in more runs
// than that starts again from the rows of those runs alone (when none
// were written, every secret is new, and a secret deleted while the unit
// was failing gets no tombstone). A history (package report) steps back
// as far to find the state a failed unit starts a period from.
const MaxStepsBack = 48

// previousRun reads the baseline of the run runID: the newest complete run
// before it in the run log (one Query of the by-completion index, newest
// first, Limit 1), then that run's rows (a paged Query of the by-run
// index, projecting only comparedAttrs). Without a run log, or before the
// first complete run, it is nil. A failed or incomplete run is never a
// baseline: it is not in the index.
//
// An organization unit (UnitDone set) compares itself with the last
// complete run in which it was done: when the previous complete run had
// units failed (units_failed on its entry) and this unit was one of them,
// it steps back, run by run, at most MaxStepsBack runs. Its baseline is
// then that run's rows of the unit, overlaid, oldest first, with the rows
// the unit wrote in the runs stepped over before failing (a tombstone
// among them removes its secret). That is the state the history reaches
// by applying every complete run's changes, so a secret deleted while the
// unit was failing gets its tombstone on the unit's next done run, and a
// change written by a failed attempt is not written twice.
func (c *Checker) previousRun(ctx context.Context, runID string) (*baseline, error) {
	if c.Config.RunsTableName == "" {
		return nil, nil
	}
	var failed []RunEntry // the runs stepped over, newest first
	var done *RunEntry
	for before := runID; ; {
		entry, err := c.completeBefore(ctx, before)
		if err != nil {
			return nil, err
		}
		if entry == nil {
			break
		}
		ok := c.UnitDone == nil || entry.UnitsFailed == 0
		if !ok {
			if ok, err = c.UnitDone(ctx, entry.RunID); err != nil {
				return nil, fmt.Errorf("read the unit's state in run %s: %w", entry.RunID, err)
			}
		}
		if ok {
			done = entry
			break
		}
		failed = append(failed, *entry)
		if len(failed) == MaxStepsBack {
			break
		}
		before = entry.RunID
	}
	if done == nil && len(failed) == 0 {
		return nil, nil
	}
	first := done
	if first == nil {
		first = &failed[len(failed)-1] // the oldest stepped over: no run had the unit done
		failed = failed[:len(failed)-1]
	}
	b := &baseline{runID: first.RunID, secrets: map[string]prior{}}
	var err error
	if b.at, err = time.Parse(time.RFC3339, first.CheckedAt); err != nil {
		return nil, fmt.Errorf("previous run %s: checked_at %q: %w", first.RunID, first.CheckedAt, err)
	}
	if err := c.readRows(ctx, b, first.RunID); err != nil {
		return nil, err
	}
	for i := len(failed) - 1; i >= 0; i-- {
		if err := c.readRows(ctx, b, failed[i].RunID); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// completeBefore is the newest complete run before runID in the run log,
// or nil.
func (c *Checker) completeBefore(ctx context.Context, runID string) (*RunEntry, error) {
	key := expression.Key(tables.CompleteKey).Equal(expression.Value(tables.CompleteValue)).
		And(expression.Key(tables.RunID).LessThan(expression.Value(runID)))
	expr, err := expression.NewBuilder().WithKeyCondition(key).
		WithProjection(expression.NamesList(expression.Name(tables.RunID), expression.Name("checked_at"), expression.Name(tables.UnitsFailed))).Build()
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	out, err := c.Reads.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(c.Config.RunsTableName), IndexName: aws.String(tables.CompleteIndex),
		KeyConditionExpression: expr.KeyCondition(), ProjectionExpression: expr.Projection(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ScanIndexForward: aws.Bool(false), Limit: aws.Int32(1),
	})
	if err != nil {
		return nil, fmt.Errorf("query %s for the previous complete run: %w", c.Config.RunsTableName, err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	var entry RunEntry
	if err := attributevalue.UnmarshalMap(out.Items[0], &entry); err != nil {
		return nil, fmt.Errorf("read run log entry: %w", err)
	}
	return &entry, nil
}

// readRows reads the rows of run runID into b, page by page, each row
// replacing the secret's prior; a tombstone removes its secret. In
// organization mode (Config.AccountID) the table holds every account and
// region of the run, so it reads the account's rows (the by-account index)
// and keeps those of this run's region: a unit compares itself with the
// same unit.
func (c *Checker) readRows(ctx context.Context, b *baseline, runID string) error {
	names := make([]expression.NameBuilder, len(comparedAttrs))
	for i, a := range comparedAttrs {
		names[i] = expression.Name(a)
	}
	index, key := tables.RunIndex, expression.Key(tables.RunID).Equal(expression.Value(runID))
	if c.Config.AccountID != "" {
		index = tables.AccountIndex
		key = expression.Key(tables.AccountID).Equal(expression.Value(c.Config.AccountID)).And(key)
	}
	expr, err := expression.NewBuilder().WithKeyCondition(key).
		WithProjection(expression.NamesList(names[0], names[1:]...)).Build()
	if err != nil {
		return fmt.Errorf("build query: %w", err)
	}
	pages := dynamodb.NewQueryPaginator(c.Reads, &dynamodb.QueryInput{
		TableName: aws.String(c.Config.TableName), IndexName: aws.String(index),
		KeyConditionExpression: expr.KeyCondition(), ProjectionExpression: expr.Projection(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		Limit: aws.Int32(rowsPage),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s for the rows of run %s: %w", c.Config.TableName, runID, err)
		}
		for _, item := range page.Items {
			var row priorRow
			if err := attributevalue.UnmarshalMap(item, &row); err != nil {
				return fmt.Errorf("read a row of run %s: %w", runID, err)
			}
			switch {
			case row.SecretName == "" || row.Region != "" && row.Region != c.Config.Region:
			case row.Change == tables.ChangeGone:
				delete(b.secrets, row.SecretName)
			default:
				b.secrets[row.SecretName] = row.prior()
			}
		}
	}
	return nil
}
