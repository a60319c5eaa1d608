package orgscenario

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Hub names the hub's tables.
type Hub struct {
	Runs, Units, Rows string
}

// ReadOutcome reads a run back: its entry (one GetItem), its units (one
// Query on the run) and its rows (a Query on the by-run index), paged.
func ReadOutcome(ctx context.Context, db *dynamodb.Client, hub Hub, runID string) (Outcome, error) {
	o := Outcome{RunID: runID}
	at, err := tables.ParseRunID(runID)
	if err != nil {
		return o, err
	}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &hub.Runs, ConsistentRead: aws.Bool(true), Key: map[string]dbtypes.AttributeValue{
		tables.Month: &dbtypes.AttributeValueMemberS{Value: tables.MonthOf(at)},
		tables.RunID: &dbtypes.AttributeValueMemberS{Value: runID},
	}})
	if err != nil {
		return o, fmt.Errorf("read run %s: %w", runID, err)
	}
	if err := attributevalue.UnmarshalMap(got.Item, &o.Entry); err != nil {
		return o, err
	}
	if err := query(ctx, db, &dynamodb.QueryInput{TableName: &hub.Units, KeyConditionExpression: aws.String("run_id = :r"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":r": &dbtypes.AttributeValueMemberS{Value: runID}}}, &o.Units); err != nil {
		return o, fmt.Errorf("read units: %w", err)
	}
	var rows []audit.Record
	if err := query(ctx, db, &dynamodb.QueryInput{TableName: &hub.Rows, IndexName: aws.String(tables.RunIndex),
		KeyConditionExpression:    aws.String("run_id = :r"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":r": &dbtypes.AttributeValueMemberS{Value: runID}}}, &rows); err != nil {
		return o, fmt.Errorf("read rows: %w", err)
	}
	o.Rows = rows
	return o, nil
}

// query reads every page of a Query into out (a pointer to a slice).
func query[T any](ctx context.Context, db *dynamodb.Client, in *dynamodb.QueryInput, out *[]T) error {
	pages := dynamodb.NewQueryPaginator(db, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		var items []T
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return err
		}
		*out = append(*out, items...)
	}
	return nil
}
