package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

func deployTable(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	db := d.Clients.DynamoDB
	in := &dynamodb.CreateTableInput{TableName: &r.Name, BillingMode: dbtypes.BillingMode(str(p, "BillingMode"))}
	for key, dst := range map[string]any{
		"KeySchema": &in.KeySchema, "AttributeDefinitions": &in.AttributeDefinitions,
		"GlobalSecondaryIndexes": &in.GlobalSecondaryIndexes, "LocalSecondaryIndexes": &in.LocalSecondaryIndexes,
		"ProvisionedThroughput": &in.ProvisionedThroughput, "Tags": &in.Tags,
	} {
		if err := convert(p[key], dst); err != nil {
			return fmt.Errorf("property %s: %w", key, err)
		}
	}
	if sse, ok := p["SSESpecification"].(map[string]any); ok {
		in.SSESpecification = &dbtypes.SSESpecification{
			Enabled:        boolOf(sse["SSEEnabled"]),
			SSEType:        dbtypes.SSEType(cfn.String(sse["SSEType"])),
			KMSMasterKeyId: optString(sse["KMSMasterKeyId"]),
		}
	}
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &r.Name})
	switch {
	case err == nil:
		// CloudFormation would update indexes or billing in place or
		// replace the table; the local deployer does neither, so it says so
		// rather than report an update it did not make.
		if diff := tableDifferences(desc.Table, in); len(diff) > 0 {
			return fmt.Errorf("table %s exists with %s; changing that in place is not supported locally: tear the stack down first",
				r.Name, strings.Join(diff, " and "))
		}
		r.Updated = true
	case isNotFound(err):
		if _, err := db.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("create table: %w", err)
		}
		r.ref = r.Name // it exists from here on, for teardown
		waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
		})
		if desc, err = waiter.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: &r.Name}, 2*time.Minute); err != nil {
			return fmt.Errorf("wait for table: %w", err)
		}
		if in.SSESpecification != nil && aws.ToBool(in.SSESpecification.Enabled) &&
			(desc.Table.SSEDescription == nil || desc.Table.SSEDescription.Status != dbtypes.SSEStatusEnabled) {
			r.note("%s: the endpoint ignored SSESpecification (no server-side encryption reported)", r.LogicalID)
		}
	default:
		return fmt.Errorf("describe table: %w", err)
	}
	if ttl, ok := p["TimeToLiveSpecification"].(map[string]any); ok && aws.ToBool(boolOf(ttl["Enabled"])) {
		if err := enableTTL(ctx, db, r.Name, cfn.String(ttl["AttributeName"])); err != nil {
			return err
		}
	}
	if pitr, ok := p["PointInTimeRecoverySpecification"].(map[string]any); ok {
		_, err := db.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName: &r.Name,
			PointInTimeRecoverySpecification: &dbtypes.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: boolOf(pitr["PointInTimeRecoveryEnabled"]),
			},
		})
		switch {
		case isUnsupported(err):
			r.note("%s: the endpoint does not support point-in-time recovery (UpdateContinuousBackups); skipped", r.LogicalID)
		case err != nil:
			return fmt.Errorf("enable point-in-time recovery: %w", err)
		}
	}
	r.ref = r.Name
	r.attrs = map[string]string{"Arn": aws.ToString(desc.Table.TableArn)}
	if desc.Table.LatestStreamArn != nil {
		r.attrs["StreamArn"] = *desc.Table.LatestStreamArn
	}
	return nil
}

// tableDifferences lists what an existing table has that the template
// would change: its key schema, its billing mode (when the endpoint reports
// one) and its global secondary indexes.
func tableDifferences(have *dbtypes.TableDescription, want *dynamodb.CreateTableInput) []string {
	var diff []string
	if !sameKeys(have.KeySchema, want.KeySchema) {
		diff = append(diff, "a different key schema")
	}
	wantMode := want.BillingMode
	if wantMode == "" {
		wantMode = dbtypes.BillingModeProvisioned
	}
	if have.BillingModeSummary != nil && have.BillingModeSummary.BillingMode != "" && have.BillingModeSummary.BillingMode != wantMode {
		diff = append(diff, fmt.Sprintf("billing mode %s instead of %s", have.BillingModeSummary.BillingMode, wantMode))
	}
	haveIdx := map[string][]dbtypes.KeySchemaElement{}
	for _, g := range have.GlobalSecondaryIndexes {
		haveIdx[aws.ToString(g.IndexName)] = g.KeySchema
	}
	wantIdx := map[string][]dbtypes.KeySchemaElement{}
	for _, g := range want.GlobalSecondaryIndexes {
		wantIdx[aws.ToString(g.IndexName)] = g.KeySchema
	}
	for _, name := range sortedKeys(wantIdx) {
		keys, ok := haveIdx[name]
		switch {
		case !ok:
			diff = append(diff, "no index "+name)
		case !sameKeys(keys, wantIdx[name]):
			diff = append(diff, "a different key schema on index "+name)
		}
	}
	for _, name := range sortedKeys(haveIdx) {
		if _, ok := wantIdx[name]; !ok {
			diff = append(diff, "an index "+name+" the template no longer has")
		}
	}
	return diff
}

// enableTTL turns on TTL unless it already is (UpdateTimeToLive fails then).
func enableTTL(ctx context.Context, db *dynamodb.Client, table, attr string) error {
	cur, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &table})
	if err == nil && cur.TimeToLiveDescription != nil &&
		cur.TimeToLiveDescription.TimeToLiveStatus == dbtypes.TimeToLiveStatusEnabled &&
		aws.ToString(cur.TimeToLiveDescription.AttributeName) == attr {
		return nil
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               &table,
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: &attr, Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("enable TTL on %s: %w", attr, err)
	}
	return nil
}

func sameKeys(a, b []dbtypes.KeySchemaElement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if aws.ToString(a[i].AttributeName) != aws.ToString(b[i].AttributeName) || a[i].KeyType != b[i].KeyType {
			return false
		}
	}
	return true
}

func removeTable(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &r.Name})
	return gone(err)
}

func tableExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &r.Name})
	return found(err)
}
