package orgscenario

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/org"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// DataPlane is scenario E's data plane without Lambda: package org's
// coordinator and worker run in this process against an endpoint's real
// APIs (the embedded cloud or moto), and the test plays the event source
// mapping (receive ten, hand them to the worker, delete what it did not
// report failed). The worker reaches each member account by AssumeRole.
type DataPlane struct {
	Endpoint string
	// Accounts are the hub's (first) and two members.
	Accounts [3]string
	// Member acts as a member account in a region, to create its secrets.
	Member func(account, region string) aws.Config
	// Denied are the accounts whose reader role cannot be assumed.
	Denied []string
	Logs   io.Writer
	// OneAtATime hands the worker one unit at a time instead of ten at
	// once. moto's DynamoDB holds no lock, so two units updating the run's
	// entry at once can lose one update (measured: about 1 run in 40).
	OneAtATime bool
}

// Run creates the hub's tables and queue under fresh names, the
// population, then runs the coordinator and the worker until the queue is
// empty, and reads the outcome back.
func (p *DataPlane) Run(ctx context.Context) (Outcome, []Secret, error) {
	var o Outcome
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "dp-" + hex.EncodeToString(suffix)
	hubCfg := aws.Config{Region: Regions[0], BaseEndpoint: aws.String(p.Endpoint), Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	db, queues := dynamodb.NewFromConfig(hubCfg), sqs.NewFromConfig(hubCfg)
	hub := Hub{Runs: name + tables.RunsSuffix, Units: name + tables.UnitsSuffix, Rows: name + tables.OrgAuditSuffix}
	if err := createTables(ctx, db, hub); err != nil {
		return o, nil, err
	}
	q, err := queues.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-units")})
	if err != nil {
		return o, nil, fmt.Errorf("create queue: %w", err)
	}
	secrets := Population(p.Accounts, name+"-")
	if err := CreateSecrets(ctx, p.Member, secrets); err != nil {
		return o, nil, err
	}

	logger := slog.New(slog.NewJSONHandler(orDiscard(p.Logs), nil))
	cfg := org.Config{
		Audit: audit.Config{TableName: name + tables.AuditSuffix, RunsTableName: hub.Runs, MaxAgeDays: 30, TagKey: "Managed", TagValue: "true",
			RetentionDays: 400, UnusedDays: 90, StackName: name, Region: Regions[0]},
		Accounts: p.Accounts[:], Regions: Regions, MemberRoleName: org.DefaultMemberRoleName,
		OrgTable: hub.Rows, UnitsTable: hub.Units, QueueURL: aws.ToString(q.QueueUrl), MaxReceives: org.DefaultMaxReceives,
	}
	plan, err := org.NewCoordinator(cfg, nil, db, queues, logger).Start(ctx, audit.Event{ScheduledTime: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return o, nil, err
	}
	secretsFor := func(region string, k aws.Credentials) audit.Secrets {
		return secretsmanager.NewFromConfig(hubCfg, func(o *secretsmanager.Options) {
			o.Region, o.Credentials = region, credentials.StaticCredentialsProvider{Value: k}
		})
	}
	w := org.NewWorker(cfg, sts.NewFromConfig(hubCfg), secretsFor, db, logger)
	batch := int32(10)
	if p.OneAtATime {
		batch = 1
	}
	if err := drain(ctx, queues, cfg.QueueURL, batch, w); err != nil {
		return o, nil, err
	}
	o, err = ReadOutcome(ctx, db, hub, plan.RunID)
	return o, secrets, err
}

// drain plays the event source mapping: batches of up to batch units to
// the worker, until the queue is empty. A unit the worker reports failed
// is an error here: none of the scenario's should fail.
func drain(ctx context.Context, queues *sqs.Client, url string, batch int32, w *org.Worker) error {
	for {
		got, err := queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: batch, VisibilityTimeout: 60,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return fmt.Errorf("receive units: %w", err)
		}
		if len(got.Messages) == 0 {
			return nil
		}
		var ev events.SQSEvent
		var done []sqstypes.DeleteMessageBatchRequestEntry
		for _, m := range got.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs"})
			done = append(done, sqstypes.DeleteMessageBatchRequestEntry{Id: m.MessageId, ReceiptHandle: m.ReceiptHandle})
		}
		if resp := w.Handle(ctx, ev); len(resp.BatchItemFailures) > 0 {
			return fmt.Errorf("the worker failed %d units", len(resp.BatchItemFailures))
		}
		if _, err := queues.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: done}); err != nil {
			return fmt.Errorf("delete units: %w", err)
		}
	}
}

// createTables creates the hub's run log, units and organization tables
// with the keys and indexes of template.yaml (package tables' contract).
func createTables(ctx context.Context, db *dynamodb.Client, hub Hub) error {
	s := func(name string) dbtypes.AttributeDefinition {
		return dbtypes.AttributeDefinition{AttributeName: aws.String(name), AttributeType: dbtypes.ScalarAttributeTypeS}
	}
	key := func(hash, rng string) []dbtypes.KeySchemaElement {
		return []dbtypes.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: dbtypes.KeyTypeHash}, {AttributeName: aws.String(rng), KeyType: dbtypes.KeyTypeRange}}
	}
	index := func(name, hash, rng string) dbtypes.GlobalSecondaryIndex {
		return dbtypes.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: key(hash, rng), Projection: &dbtypes.Projection{ProjectionType: dbtypes.ProjectionTypeAll}}
	}
	for _, t := range []dynamodb.CreateTableInput{
		{TableName: aws.String(hub.Runs), AttributeDefinitions: []dbtypes.AttributeDefinition{s(tables.Month), s(tables.RunID), s(tables.CompleteKey)},
			KeySchema: key(tables.Month, tables.RunID), GlobalSecondaryIndexes: []dbtypes.GlobalSecondaryIndex{index(tables.CompleteIndex, tables.CompleteKey, tables.RunID)}},
		{TableName: aws.String(hub.Units), AttributeDefinitions: []dbtypes.AttributeDefinition{s(tables.RunID), s(tables.Unit)}, KeySchema: key(tables.RunID, tables.Unit)},
		{TableName: aws.String(hub.Rows), AttributeDefinitions: []dbtypes.AttributeDefinition{s(tables.SecretARN), s(tables.RunID), s(tables.AccountID), s(tables.ChangeMonth)},
			KeySchema: key(tables.SecretARN, tables.RunID), GlobalSecondaryIndexes: []dbtypes.GlobalSecondaryIndex{
				index(tables.RunIndex, tables.RunID, tables.SecretARN), index(tables.AccountIndex, tables.AccountID, tables.RunID),
				index(tables.ChangeIndex, tables.ChangeMonth, tables.RunID)}},
	} {
		t.BillingMode = dbtypes.BillingModePayPerRequest
		if _, err := db.CreateTable(ctx, &t); err != nil {
			return fmt.Errorf("create table %s: %w", aws.ToString(t.TableName), err)
		}
	}
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
