package report

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// loggedRun is a run log entry as a history reads it: the entry, and
// whether the run recorded what changed since the previous complete run.
// New is the run log's count of its new secrets, which the write side
// writes on every entry of a run that compared itself with the previous
// one (zero included). A run without it was written before rows carried
// their change, so a history reads its rows in full where it needs them.
type loggedRun struct {
	audit.RunEntry
	New *int `dynamodbav:"new"`
}

// runLog lists the run log between from and to (to excluded), oldest
// first: one Query per month, each keyed on its month and a run_id range.
func (s *Store) runLog(ctx context.Context, from, to time.Time) ([]loggedRun, error) {
	var runs []loggedRun
	for month := monthStart(from); month.Before(to); month = month.AddDate(0, 1, 0) {
		key := expression.Key(tables.Month).Equal(expression.Value(tables.MonthOf(month))).
			And(runsBetween(from, to))
		err := s.pages(ctx, &dynamodb.QueryInput{TableName: aws.String(s.RunsTable)}, key, func(items []map[string]dbtypes.AttributeValue) error {
			var page []loggedRun
			if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
				return fmt.Errorf("read run log entries: %w", err)
			}
			runs = append(runs, page...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// RunBefore is the newest complete run dated before t: one Query of the
// run log's sparse index, newest first, Limit 1. It wraps ErrNoRuns when
// there is none.
func (s *Store) RunBefore(ctx context.Context, t time.Time) (audit.RunEntry, error) {
	return s.endRun(ctx, false, expression.Key(tables.RunID).LessThan(expression.Value(tables.NewRunID(t))))
}

// statusRow is what a history needs of an audit row: whose, which run,
// its status (empty on a tombstone) and its change.
type statusRow struct {
	SecretName string       `dynamodbav:"secret_name"`
	RunID      string       `dynamodbav:"run_id"`
	Status     audit.Status `dynamodbav:"status"`
	Change     string       `dynamodbav:"change"`
	// Organization mode only: the secret is its ARN, in an account and
	// region.
	SecretARN string `dynamodbav:"secret_arn"`
	AccountID string `dynamodbav:"account_id"`
	Region    string `dynamodbav:"region"`
}

// key is what names the row's secret: its name, or in organization mode
// its ARN.
func (r statusRow) key(org bool) string {
	if org {
		return r.SecretARN
	}
	return r.SecretName
}

// statusProjection names the attributes of a statusRow, so a Query
// returns only those: in organization mode the ARN, account and region
// too.
func (s *Store) statusProjection() expression.ProjectionBuilder {
	p := expression.NamesList(expression.Name(tables.SecretName), expression.Name(tables.RunID),
		expression.Name("status"), expression.Name(tables.Change))
	if s.Org {
		p = p.AddNames(expression.Name(tables.SecretARN), expression.Name(tables.AccountID), expression.Name(tables.Region))
	}
	return p
}

// eachStatus calls f for every row of one run, page by page, with only
// the attributes a history needs: one Query of the run index, paged.
func (s *Store) eachStatus(ctx context.Context, runID string, f func(statusRow)) error {
	in := &dynamodb.QueryInput{TableName: aws.String(s.auditTable()), IndexName: aws.String(tables.RunIndex)}
	return s.projectedPages(ctx, in, expression.Key(tables.RunID).Equal(expression.Value(runID)), f)
}

// eachAccountStatus calls f for every row of one account in one run,
// every region's, with only the attributes a history needs: one Query of
// the organization table's by-account index, paged.
func (s *Store) eachAccountStatus(ctx context.Context, account, runID string, f func(statusRow)) error {
	in := &dynamodb.QueryInput{TableName: aws.String(s.OrgTable), IndexName: aws.String(tables.AccountIndex)}
	key := expression.Key(tables.AccountID).Equal(expression.Value(account)).And(expression.Key(tables.RunID).Equal(expression.Value(runID)))
	return s.projectedPages(ctx, in, key, f)
}

// eachChange calls f for every row in the change index of one month
// whose run is dated from from to until (until excluded): one Query keyed
// on the month and a run_id range, paged. Only rows whose change is not
// unchanged are in the index.
func (s *Store) eachChange(ctx context.Context, month, from, until time.Time, f func(statusRow)) error {
	in := &dynamodb.QueryInput{TableName: aws.String(s.auditTable()), IndexName: aws.String(tables.ChangeIndex)}
	key := expression.Key(tables.ChangeMonth).Equal(expression.Value(tables.MonthOf(month))).And(runsBetween(from, until))
	return s.projectedPages(ctx, in, key, f)
}

// projectedPages runs a Query of statusRows to its last page.
func (s *Store) projectedPages(ctx context.Context, in *dynamodb.QueryInput, key expression.KeyConditionBuilder, f func(statusRow)) error {
	expr, err := expression.NewBuilder().WithKeyCondition(key).WithProjection(s.statusProjection()).Build()
	if err != nil {
		return fmt.Errorf("build query: %w", err)
	}
	in.KeyConditionExpression, in.ProjectionExpression = expr.KeyCondition(), expr.Projection()
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = expr.Names(), expr.Values()
	pages := dynamodb.NewQueryPaginator(s.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return queryError(aws.ToString(in.TableName), err)
		}
		for _, item := range page.Items {
			var r statusRow
			if err := attributevalue.UnmarshalMap(item, &r); err != nil {
				return fmt.Errorf("read audit row: %w", err)
			}
			r.Status = internStatus(r.Status)
			f(r)
		}
	}
	return nil
}

// internStatus shares the strings of the two statuses, so a history of
// many secrets and days holds no copy of them per day.
func internStatus(st audit.Status) audit.Status {
	switch st {
	case audit.StatusOK:
		return audit.StatusOK
	case audit.StatusNeedsRotation:
		return audit.StatusNeedsRotation
	}
	return st
}
