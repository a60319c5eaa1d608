package org

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// testNow is the cloud's time in these tests.
var testNow = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// fakeTables answers each DynamoDB call with its function field, under a
// lock, so tests may record calls from concurrent goroutines.
type fakeTables struct {
	mu                   sync.Mutex
	GetItemFn            func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error)
	PutItemFn            func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
	BatchWriteItemFn     func(*dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error)
	UpdateItemFn         func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItemsFn func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error)
	// QueryFn answers the run's read of its previous run; nil: there is
	// none (an empty answer).
	QueryFn func(*dynamodb.QueryInput) (*dynamodb.QueryOutput, error)
}

func (f *fakeTables) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.QueryFn == nil {
		return &dynamodb.QueryOutput{}, nil
	}
	return f.QueryFn(in)
}

func (f *fakeTables) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.GetItemFn(in)
}

func (f *fakeTables) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.PutItemFn(in)
}

func (f *fakeTables) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.BatchWriteItemFn(in)
}

func (f *fakeTables) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.UpdateItemFn(in)
}

func (f *fakeTables) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.TransactWriteItemsFn(in)
}

type fakeQueue struct {
	mu                 sync.Mutex
	SendMessageBatchFn func(*sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
}

func (f *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.SendMessageBatchFn(in)
}

type fakeOrganizations struct {
	ListAccountsFn func(*organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error)
}

func (f *fakeOrganizations) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	return f.ListAccountsFn(in)
}

type fakeRoles struct {
	mu           sync.Mutex
	AssumeRoleFn func(*sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error)
}

func (f *fakeRoles) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.AssumeRoleFn(in)
}

type fakeSecrets struct {
	ListSecretsFn func(*secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error)
}

func (f *fakeSecrets) ListSecrets(_ context.Context, in *secretsmanager.ListSecretsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	return f.ListSecretsFn(in)
}

func (f *fakeSecrets) ListSecretVersionIds(context.Context, *secretsmanager.ListSecretVersionIdsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	panic("no lookups in these tests")
}

var _ audit.Secrets = (*fakeSecrets)(nil)

// testConfig is a hub in us-east-1 auditing two regions.
func testConfig() Config {
	return Config{
		Audit: audit.Config{TableName: "hub-audit", RunsTableName: "hub-runs", MaxAgeDays: 30, TagKey: "Managed", TagValue: "true",
			RetentionDays: 400, UnusedDays: 90, StackName: "hub", Region: "us-east-1"},
		Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1", "eu-west-1"},
		MemberRoleName: DefaultMemberRoleName, OrgTable: "hub-org-audit", UnitsTable: "hub-units",
		QueueURL: "https://sqs.us-east-1.amazonaws.com/000000000000/hub-units", MaxReceives: 3,
	}
}
