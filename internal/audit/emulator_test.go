package audit_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
	"github.com/sivchari/kumo"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// TestCheckAgainstEmulator runs the check on the real SDK against kumo, the
// in-process AWS emulator, seeded like template.yaml's test secrets.
func TestCheckAgainstEmulator(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close) // runs after the cleanup below, which needs the server
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.URL) })

	// kumo keeps its state in package globals, so a second run of this test
	// in the same binary (-count=2) must find nothing of the first.
	t.Cleanup(func() {
		_, _ = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("emu-audit")})
		for _, name := range []string{"emu-fresh", "emu-stale", "emu-ignored"} {
			_, _ = sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
		}
	})
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String("emu-audit"),
		BillingMode: dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{
			{AttributeName: aws.String("secret_name"), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("run_id"), AttributeType: dbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []dbtypes.KeySchemaElement{
			{AttributeName: aws.String("secret_name"), KeyType: dbtypes.KeyTypeHash},
			{AttributeName: aws.String("run_id"), KeyType: dbtypes.KeyTypeRange},
		},
	})
	is.NoErr(err)
	for name, managed := range map[string]string{"emu-fresh": "true", "emu-stale": "true", "emu-ignored": "false"} {
		_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(name),
			SecretString: aws.String("s3cr3t-" + name),
			Tags:         []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String(managed)}},
		})
		is.NoErr(err)
	}

	c := audit.New(sm, db, audit.Config{TableName: "emu-audit", MaxAgeDays: 30, TagKey: "Managed", TagValue: "true", RetentionDays: 400},
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	res, err := c.Run(ctx, audit.Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 2) // emu-ignored is Managed=false
	is.Equal(res.Flagged, 0) // both were just created
	is.Equal(res.Written, 2)

	var rows []audit.Record
	for _, name := range []string{"emu-fresh", "emu-stale", "emu-ignored"} {
		key := expression.Key("secret_name").Equal(expression.Value(name)).
			And(expression.Key("run_id").Equal(expression.Value(res.RunID)))
		expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
		is.NoErr(err)
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String("emu-audit"),
			KeyConditionExpression:    expr.KeyCondition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
		})
		is.NoErr(err)
		var recs []audit.Record
		is.NoErr(attributevalue.UnmarshalListOfMaps(out.Items, &recs))
		rows = append(rows, recs...)
	}
	is.Equal(len(rows), 2) // one row per managed secret, none for emu-ignored
	for _, r := range rows {
		is.True(r.SecretName != "emu-ignored")
		is.Equal(r.Status, audit.StatusOK)
		is.Equal(r.Basis, audit.BasisCreated) // never rotated, just created: the value cannot be older than the secret
		is.Equal(r.CheckedAt, res.CheckedAt)
		_, err := time.Parse(time.RFC3339, r.CheckedAt)
		is.NoErr(err)
	}
}
