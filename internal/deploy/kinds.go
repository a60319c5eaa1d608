package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/rotation-audit/rotation-audit/internal/cfn"
	"github.com/rotation-audit/rotation-audit/internal/schedule"
)

// kind is how the deployer creates, updates and deletes one resource type
// through its service API.
type kind struct {
	// name is where the physical name comes from and what the service
	// accepts; without the property the name is generated from the stack
	// name and logical ID.
	name nameRule
	// props are the properties the deployer implements; any other is an error.
	props []string
	// attrs are the attributes Fn::GetAtt can read.
	attrs []string
	// deploy creates the resource, or updates it in place if it exists.
	deploy func(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error
	// remove deletes the resource; false means it was not there.
	remove func(ctx context.Context, c *Clients, r StackResource) (bool, error)
	// exists reports whether the resource is there.
	exists func(ctx context.Context, c *Clients, r StackResource) (bool, error)
	// refIsName says that Ref gives the physical name, so a teardown can
	// resolve the references of others to this resource from its name.
	refIsName bool
}

// nameRule is a service's rule for names: the property that holds one, its
// longest length and its characters.
type nameRule struct {
	prop    string
	max     int
	pattern *regexp.Regexp
	chars   string // pattern in words, for errors
}

// check says what is wrong with a name, if anything.
func (n nameRule) check(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", n.prop)
	case len(name) > n.max:
		return fmt.Errorf("%s %q is %d characters, over the limit of %d (a shorter stack name helps)", n.prop, name, len(name), n.max)
	case !n.pattern.MatchString(name):
		return fmt.Errorf("%s %q may hold only %s", n.prop, name, n.chars)
	}
	return nil
}

// kinds are the resource types the deployer supports.
var kinds = map[string]kind{
	"AWS::DynamoDB::Table": {
		name: nameRule{"TableName", 255, regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,}$`), "letters, digits, _ . and -, at least 3"},
		props: []string{"TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
			"LocalSecondaryIndexes", "ProvisionedThroughput", "TimeToLiveSpecification", "SSESpecification",
			"PointInTimeRecoverySpecification", "Tags"},
		attrs:  []string{"Arn", "StreamArn"},
		deploy: deployTable, remove: removeTable, exists: tableExists, refIsName: true,
	},
	"AWS::SecretsManager::Secret": {
		name:   nameRule{"Name", 512, regexp.MustCompile(`^[a-zA-Z0-9/_+=.@-]+$`), "letters, digits and /_+=.@-"},
		props:  []string{"Name", "Description", "SecretString", "GenerateSecretString", "Tags", "KmsKeyId"},
		attrs:  []string{"Id"},
		deploy: deploySecret, remove: removeSecret, exists: secretExists,
	},
	"AWS::SQS::Queue": {
		name: nameRule{"QueueName", 80, regexp.MustCompile(`^[a-zA-Z0-9_-]+(\.fifo)?$`), "letters, digits, _ and -"},
		props: []string{"QueueName", "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
			"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "SqsManagedSseEnabled", "KmsMasterKeyId", "Tags"},
		attrs:  []string{"Arn", "QueueName", "QueueUrl"},
		deploy: deployQueue, remove: removeQueue, exists: queueExists,
	},
	"AWS::IAM::Role": {
		name: nameRule{"RoleName", 64, regexp.MustCompile(`^[\w+=,.@-]+$`), "letters, digits and _+=,.@-"},
		props: []string{"RoleName", "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns", "Path",
			"Description", "MaxSessionDuration", "PermissionsBoundary", "Tags"},
		attrs:  []string{"Arn", "RoleId"},
		deploy: deployRole, remove: removeRole, exists: roleExists, refIsName: true,
	},
	"AWS::Lambda::Function": {
		name: nameRule{"FunctionName", 64, regexp.MustCompile(`^[a-zA-Z0-9_-]+$`), "letters, digits, _ and -"},
		props: []string{"FunctionName", "Code", "Handler", "Runtime", "Architectures", "MemorySize", "Timeout",
			"Role", "Environment", "LoggingConfig", "Description", "Tags"},
		attrs:  []string{"Arn"},
		deploy: deployFunction, remove: removeFunction, exists: functionExists, refIsName: true,
	},
	// An event invoke config has no name of its own: it is its function's,
	// and Ref names the function.
	"AWS::Lambda::EventInvokeConfig": {
		name:   nameRule{"FunctionName", 140, regexp.MustCompile(`^[a-zA-Z0-9_:-]+$`), "letters, digits, _ - and :"},
		props:  []string{"FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"},
		deploy: deployInvokeConfig, remove: removeInvokeConfig, exists: invokeConfigExists,
	},
	"AWS::Scheduler::Schedule": {
		name: nameRule{"Name", 64, regexp.MustCompile(`^[0-9a-zA-Z_.-]+$`), "letters, digits and _.-"},
		props: []string{"Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone",
			"FlexibleTimeWindow", "Target", "State", "Description", "StartDate", "EndDate", "KmsKeyArn"},
		attrs:  []string{"Arn"},
		deploy: deploySchedule, remove: removeSchedule, exists: scheduleExists, refIsName: true,
	},
	"AWS::SNS::Topic": {
		name:   nameRule{"TopicName", 256, regexp.MustCompile(`^[a-zA-Z0-9_-]+$`), "letters, digits, _ and -"},
		props:  []string{"TopicName", "DisplayName", "Subscription", "KmsMasterKeyId", "Tags"},
		attrs:  []string{"TopicArn", "TopicName"},
		deploy: deployTopic, remove: removeTopic, exists: topicExists,
	},
	"AWS::CloudWatch::Alarm": {
		name: nameRule{"AlarmName", 255, regexp.MustCompile(`^[^\x00-\x1f]+$`), "printable characters"},
		props: append([]string{"AlarmName", "Dimensions", "AlarmActions", "OKActions", "InsufficientDataActions",
			"Period", "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ActionsEnabled"}, alarmScalars...),
		attrs:  []string{"Arn"},
		deploy: deployAlarm, remove: removeAlarm, exists: alarmExists, refIsName: true,
	},
}

// --- DynamoDB table ---

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

// --- Secrets Manager secret ---

func deploySecret(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	sm := d.Clients.SecretsManager
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &r.Name})
	switch {
	case err == nil && desc.DeletedDate == nil:
		// Like CloudFormation, an update keeps the generated value, and it
		// changes only what differs: any edit moves LastChangedDate, the
		// very date the rotation check reads. Tags are set at creation.
		if want := optString(p["Description"]); want != nil && *want != aws.ToString(desc.Description) {
			if _, err := sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: &r.Name, Description: want}); err != nil {
				return fmt.Errorf("update secret: %w", err)
			}
		}
		r.Updated = true
		r.ref = aws.ToString(desc.ARN)
	case err == nil || isNotFound(err):
		if err == nil {
			// Scheduled for deletion (by hand, or by an endpoint that keeps
			// deleted secrets): its name is taken until it is gone, so it is
			// deleted for good and created anew, as a fresh stack would.
			if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
				SecretId: &r.Name, ForceDeleteWithoutRecovery: aws.Bool(true),
			}); err != nil {
				return fmt.Errorf("delete the secret pending deletion: %w", err)
			}
			r.note("%s: %s was scheduled for deletion; deleted it for good and created it anew", r.LogicalID, r.Name)
		}
		value, err := secretValue(ctx, sm, p)
		if err != nil {
			return err
		}
		var tags []smtypes.Tag
		if err := convert(p["Tags"], &tags); err != nil {
			return fmt.Errorf("property Tags: %w", err)
		}
		in := &secretsmanager.CreateSecretInput{
			Name:         &r.Name,
			Description:  optString(p["Description"]),
			KmsKeyId:     optString(p["KmsKeyId"]),
			SecretString: &value,
			Tags:         tags,
		}
		out, err := createSecret(ctx, sm, in)
		if err != nil {
			return fmt.Errorf("create secret: %w", err)
		}
		r.ref = aws.ToString(out.ARN)
	default:
		return fmt.Errorf("describe secret: %w", err)
	}
	r.attrs = map[string]string{"Id": r.ref}
	return nil
}

// createSecret creates a secret, retrying for a while when the name is
// still held by one being deleted: AWS deletes asynchronously, even without
// a recovery window.
func createSecret(ctx context.Context, sm *secretsmanager.Client, in *secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
	for delay := 100 * time.Millisecond; ; delay *= 2 {
		out, err := sm.CreateSecret(ctx, in)
		var invalid *smtypes.InvalidRequestException
		if err == nil || !errors.As(err, &invalid) || !strings.Contains(err.Error(), "deletion") || delay > 5*time.Second {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// secretValue is SecretString, or a value generated with GetRandomPassword
// as CloudFormation does for GenerateSecretString.
func secretValue(ctx context.Context, sm *secretsmanager.Client, p map[string]any) (string, error) {
	gen, ok := p["GenerateSecretString"].(map[string]any)
	if !ok {
		if s, ok := p["SecretString"].(string); ok {
			return s, nil
		}
		return "", errors.New("needs SecretString or GenerateSecretString")
	}
	opts := maps.Clone(gen)
	template, key := cfn.String(opts["SecretStringTemplate"]), cfn.String(opts["GenerateStringKey"])
	delete(opts, "SecretStringTemplate")
	delete(opts, "GenerateStringKey")
	var in secretsmanager.GetRandomPasswordInput
	if err := convert(opts, &in); err != nil {
		return "", fmt.Errorf("property GenerateSecretString: %w", err)
	}
	out, err := sm.GetRandomPassword(ctx, &in)
	if err != nil {
		return "", fmt.Errorf("generate secret value: %w", err)
	}
	password := aws.ToString(out.RandomPassword)
	if template == "" {
		return password, nil
	}
	if key == "" {
		return "", errors.New("property GenerateSecretString: SecretStringTemplate needs GenerateStringKey")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(template), &doc); err != nil {
		return "", fmt.Errorf("property GenerateSecretString: SecretStringTemplate is not a JSON object: %w", err)
	}
	doc[key] = password
	b, err := json.Marshal(doc)
	return string(b), err
}

func removeSecret(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	// Some endpoints accept deleting a deleted secret again; ask first.
	there, err := secretExists(ctx, c, r)
	if err != nil || !there {
		return false, err
	}
	_, err = c.SecretsManager.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: &r.Name, ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	return gone(err)
}

// secretExists counts a secret scheduled for deletion as gone.
func secretExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	desc, err := c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &r.Name})
	if err != nil {
		return found(err)
	}
	return desc.DeletedDate == nil, nil
}

// --- SQS queue ---

func deployQueue(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	q := d.Clients.SQS
	attrs := map[string]string{}
	for _, key := range []string{"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
		"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "SqsManagedSseEnabled", "KmsMasterKeyId"} {
		if v, ok := p[key]; ok {
			attrs[key] = cfn.String(v)
		}
	}
	tags := tagMap(p["Tags"])
	if _, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name}); err == nil {
		r.Updated = true
	}
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &r.Name, Attributes: attrs, Tags: tags})
	if err != nil && r.Updated && hasCode(err, []string{"QueueAlreadyExists", "QueueNameExists"}) {
		url, uerr := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name})
		if uerr != nil {
			return fmt.Errorf("get queue URL: %w", uerr)
		}
		if _, err = q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: url.QueueUrl, Attributes: attrs}); err != nil {
			return fmt.Errorf("update queue attributes: %w", err)
		}
		out = &sqs.CreateQueueOutput{QueueUrl: url.QueueUrl}
	} else if err != nil {
		return fmt.Errorf("create queue: %w", err)
	}
	got, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("get queue ARN: %w", err)
	}
	r.ref = aws.ToString(out.QueueUrl)
	r.attrs = map[string]string{"Arn": got.Attributes["QueueArn"], "QueueName": r.Name, "QueueUrl": r.ref}
	return nil
}

func removeQueue(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	url, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name})
	if err != nil {
		return gone(err)
	}
	_, err = c.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: url.QueueUrl})
	return gone(err)
}

func queueExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name})
	return found(err)
}

// --- IAM role ---

func deployRole(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	c := d.Clients.IAM
	trust, err := json.Marshal(p["AssumeRolePolicyDocument"])
	if err != nil {
		return fmt.Errorf("property AssumeRolePolicyDocument: %w", err)
	}
	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: &r.Name})
	var role *iamtypes.Role
	switch {
	case err == nil:
		r.Updated = true
		role = got.Role
		if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
			RoleName: &r.Name, PolicyDocument: aws.String(string(trust)),
		}); err != nil {
			return fmt.Errorf("update trust policy: %w", err)
		}
	case isNotFound(err):
		var tags []iamtypes.Tag
		if err := convert(p["Tags"], &tags); err != nil {
			return fmt.Errorf("property Tags: %w", err)
		}
		in := &iam.CreateRoleInput{
			RoleName:                 &r.Name,
			AssumeRolePolicyDocument: aws.String(string(trust)),
			Path:                     optString(p["Path"]),
			Description:              optString(p["Description"]),
			PermissionsBoundary:      optString(p["PermissionsBoundary"]),
			Tags:                     tags,
		}
		if v, ok := p["MaxSessionDuration"]; ok {
			n, err := strconv.ParseInt(cfn.String(v), 10, 32)
			if err != nil {
				return fmt.Errorf("property MaxSessionDuration: %w", err)
			}
			in.MaxSessionDuration = aws.Int32(int32(n))
		}
		out, err := c.CreateRole(ctx, in)
		if err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		role = out.Role
	default:
		return fmt.Errorf("get role: %w", err)
	}
	policies, _ := p["Policies"].([]any)
	if r.Updated {
		if err := dropPolicies(ctx, c, r.Name, policies); err != nil {
			return err
		}
	}
	for _, pol := range policies {
		m, _ := pol.(map[string]any)
		doc, err := json.Marshal(withVersion(m["PolicyDocument"]))
		if err != nil {
			return fmt.Errorf("property Policies: %w", err)
		}
		if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName: &r.Name, PolicyName: aws.String(cfn.String(m["PolicyName"])), PolicyDocument: aws.String(string(doc)),
		}); err != nil {
			return fmt.Errorf("put policy %s: %w", cfn.String(m["PolicyName"]), err)
		}
	}
	managed, _ := p["ManagedPolicyArns"].([]any)
	for _, arn := range managed {
		_, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: &r.Name, PolicyArn: aws.String(cfn.String(arn))})
		switch {
		case isNotFound(err) && strings.HasPrefix(cfn.String(arn), "arn:aws:iam::aws:policy/"):
			r.note("%s: the endpoint has no AWS managed policy %s; not attached", r.LogicalID, cfn.String(arn))
		case err != nil:
			return fmt.Errorf("attach %s: %w", cfn.String(arn), err)
		}
	}
	r.ref = r.Name
	r.attrs = map[string]string{"Arn": aws.ToString(role.Arn), "RoleId": aws.ToString(role.RoleId)}
	return nil
}

// dropPolicies deletes a role's inline policies that the template no longer
// names, so an update leaves exactly the template's permissions.
func dropPolicies(ctx context.Context, c *iam.Client, role string, keep []any) error {
	names := map[string]bool{}
	for _, pol := range keep {
		m, _ := pol.(map[string]any)
		names[cfn.String(m["PolicyName"])] = true
	}
	have, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &role})
	if err != nil {
		return fmt.Errorf("list inline policies: %w", err)
	}
	for _, name := range have.PolicyNames {
		if names[name] {
			continue
		}
		if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &role, PolicyName: aws.String(name)}); err != nil {
			return fmt.Errorf("delete policy %s: %w", name, err)
		}
	}
	return nil
}

// withVersion gives a policy document without Version the current policy
// language version. SAM omits it in the statements it generates; IAM then
// assumes 2008-10-17, which moto refuses, and 2012-10-17 means the same for
// policies without variables.
func withVersion(doc any) any {
	m, ok := doc.(map[string]any)
	if !ok || m["Version"] != nil {
		return doc
	}
	m = maps.Clone(m)
	m["Version"] = "2012-10-17"
	return m
}

func roleExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &r.Name})
	return found(err)
}

func removeRole(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	name := r.Name
	inline, err := c.IAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &name})
	if err != nil {
		return gone(err)
	}
	for _, pol := range inline.PolicyNames {
		if _, err := c.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &name, PolicyName: aws.String(pol)}); err != nil && !isNotFound(err) {
			return false, fmt.Errorf("delete policy %s: %w", pol, err)
		}
	}
	attached, err := c.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: &name})
	if err != nil && !isNotFound(err) {
		return false, fmt.Errorf("list attached policies: %w", err)
	}
	if attached != nil {
		for _, pol := range attached.AttachedPolicies {
			if _, err := c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: &name, PolicyArn: pol.PolicyArn}); err != nil && !isNotFound(err) {
				return false, fmt.Errorf("detach %s: %w", aws.ToString(pol.PolicyArn), err)
			}
		}
	}
	_, err = c.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: &name})
	return gone(err)
}

// --- Lambda function ---

func deployFunction(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	l := d.Clients.Lambda
	code, _ := p["Code"].(map[string]any)
	if _, local := code["CodeUri"]; !local {
		return errors.New("property Code: only a SAM CodeUri (built locally) is supported")
	}
	var archs []ltypes.Architecture
	if err := convert(p["Architectures"], &archs); err != nil {
		return fmt.Errorf("property Architectures: %w", err)
	}
	arch := "x86_64"
	if len(archs) > 0 {
		arch = string(archs[0])
	}
	zip, err := d.Code(ctx, arch)
	if err != nil {
		return fmt.Errorf("build code: %w", err)
	}
	var env *ltypes.Environment
	if err := convert(p["Environment"], &env); err != nil {
		return fmt.Errorf("property Environment: %w", err)
	}
	var logging *ltypes.LoggingConfig
	if err := convert(p["LoggingConfig"], &logging); err != nil {
		return fmt.Errorf("property LoggingConfig: %w", err)
	}
	memory, err := int32Of(p["MemorySize"])
	if err != nil {
		return fmt.Errorf("property MemorySize: %w", err)
	}
	timeout, err := int32Of(p["Timeout"])
	if err != nil {
		return fmt.Errorf("property Timeout: %w", err)
	}
	var out *ltypes.FunctionConfiguration
	if _, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &r.Name}); err == nil {
		r.Updated = true
		if _, err := l.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: &r.Name, Handler: optString(p["Handler"]), Runtime: ltypes.Runtime(str(p, "Runtime")),
			Role: optString(p["Role"]), Environment: env, LoggingConfig: logging, Description: optString(p["Description"]),
			MemorySize: memory, Timeout: timeout,
		}); err != nil {
			return fmt.Errorf("update function configuration: %w", err)
		}
		// Lambda refuses a second update while the first is in progress.
		if err := waitForFunction(ctx, l, r.Name); err != nil {
			return err
		}
		code, err := l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: &r.Name, ZipFile: zip, Architectures: archs,
		})
		if err != nil {
			return fmt.Errorf("update function code: %w", err)
		}
		out = &ltypes.FunctionConfiguration{FunctionArn: code.FunctionArn}
	} else if isNotFound(err) {
		created, err := l.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: &r.Name, Code: &ltypes.FunctionCode{ZipFile: zip}, Role: optString(p["Role"]),
			Handler: optString(p["Handler"]), Runtime: ltypes.Runtime(str(p, "Runtime")), Architectures: archs,
			Environment: env, LoggingConfig: logging, Description: optString(p["Description"]),
			MemorySize: memory, Timeout: timeout, Tags: tagMap(p["Tags"]),
		})
		if err != nil {
			return fmt.Errorf("create function: %w", err)
		}
		out = &ltypes.FunctionConfiguration{FunctionArn: created.FunctionArn}
	} else {
		return fmt.Errorf("get function: %w", err)
	}
	// An invoke right after the deploy must find the function ready.
	if err := waitForFunction(ctx, l, r.Name); err != nil {
		return err
	}
	r.ref = r.Name
	r.attrs = map[string]string{"Arn": aws.ToString(out.FunctionArn)}
	return nil
}

// waitForFunction waits until a function is neither Pending nor being
// updated. It is not the SDK's FunctionActiveV2/FunctionUpdatedV2 waiter:
// those wait for "Active" and "Successful", which some emulators never
// report, so here a missing state counts as ready.
func waitForFunction(ctx context.Context, l *lambda.Client, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		out, err := l.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &name})
		if err != nil {
			return fmt.Errorf("wait for function %s: %w", name, err)
		}
		c := out.Configuration
		switch {
		case c.State == ltypes.StateFailed:
			return fmt.Errorf("function %s failed: %s", name, aws.ToString(c.StateReason))
		case c.LastUpdateStatus == ltypes.LastUpdateStatusFailed:
			return fmt.Errorf("function %s update failed: %s", name, aws.ToString(c.LastUpdateStatusReason))
		case c.State != ltypes.StatePending && c.LastUpdateStatus != ltypes.LastUpdateStatusInProgress:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for function %s: %w", name, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func removeFunction(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: &r.Name})
	return gone(err)
}

func functionExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &r.Name})
	return found(err)
}

// --- Lambda event invoke config ---

func deployInvokeConfig(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	in := &lambda.PutFunctionEventInvokeConfigInput{FunctionName: &r.Name, Qualifier: optString(p["Qualifier"])}
	if err := convert(p["DestinationConfig"], &in.DestinationConfig); err != nil {
		return fmt.Errorf("property DestinationConfig: %w", err)
	}
	var err error
	if in.MaximumRetryAttempts, err = int32Of(p["MaximumRetryAttempts"]); err != nil {
		return fmt.Errorf("property MaximumRetryAttempts: %w", err)
	}
	if in.MaximumEventAgeInSeconds, err = int32Of(p["MaximumEventAgeInSeconds"]); err != nil {
		return fmt.Errorf("property MaximumEventAgeInSeconds: %w", err)
	}
	if r.Updated, err = invokeConfigExists(ctx, d.Clients, *r); err != nil {
		return err
	}
	if _, err := d.Clients.Lambda.PutFunctionEventInvokeConfig(ctx, in); err != nil {
		return fmt.Errorf("put event invoke config: %w", err)
	}
	r.ref = r.Name
	r.attrs = map[string]string{}
	return nil
}

func removeInvokeConfig(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: &r.Name})
	return gone(err)
}

func invokeConfigExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Lambda.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: &r.Name})
	return found(err)
}

// --- EventBridge Scheduler schedule ---

func deploySchedule(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	s := d.Clients.Scheduler
	expr := str(p, "ScheduleExpression")
	if err := schedule.Check(expr, str(p, "ScheduleExpressionTimezone")); err != nil {
		return err
	}
	var target schtypes.Target
	if err := convert(p["Target"], &target); err != nil {
		return fmt.Errorf("property Target: %w", err)
	}
	var window schtypes.FlexibleTimeWindow
	if err := convert(p["FlexibleTimeWindow"], &window); err != nil {
		return fmt.Errorf("property FlexibleTimeWindow: %w", err)
	}
	start, err := timeOf(p["StartDate"])
	if err != nil {
		return fmt.Errorf("property StartDate: %w", err)
	}
	end, err := timeOf(p["EndDate"])
	if err != nil {
		return fmt.Errorf("property EndDate: %w", err)
	}
	group := optString(p["GroupName"])
	_, err = s.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: &r.Name, GroupName: group})
	switch {
	case err == nil:
		r.Updated = true
		_, err = s.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
			Name: &r.Name, GroupName: group, ScheduleExpression: &expr, Target: &target,
			FlexibleTimeWindow: &window, ScheduleExpressionTimezone: optString(p["ScheduleExpressionTimezone"]),
			State: schtypes.ScheduleState(str(p, "State")), Description: optString(p["Description"]),
			StartDate: start, EndDate: end, KmsKeyArn: optString(p["KmsKeyArn"]),
		})
	case isNotFound(err):
		_, err = s.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
			Name: &r.Name, GroupName: group, ScheduleExpression: &expr, Target: &target,
			FlexibleTimeWindow: &window, ScheduleExpressionTimezone: optString(p["ScheduleExpressionTimezone"]),
			State: schtypes.ScheduleState(str(p, "State")), Description: optString(p["Description"]),
			StartDate: start, EndDate: end, KmsKeyArn: optString(p["KmsKeyArn"]),
		})
	}
	if err != nil {
		return fmt.Errorf("put schedule: %w", err)
	}
	got, err := s.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: &r.Name, GroupName: group})
	if err != nil {
		return fmt.Errorf("get schedule: %w", err)
	}
	r.Group = aws.ToString(group)
	r.ref = r.Name
	r.attrs = map[string]string{"Arn": aws.ToString(got.Arn)}
	return nil
}

func removeSchedule(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Scheduler.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: &r.Name, GroupName: optString(nonEmpty(r.Group))})
	return gone(err)
}

func scheduleExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.Scheduler.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: &r.Name, GroupName: optString(nonEmpty(r.Group))})
	return found(err)
}

// --- property helpers ---

// gone turns a delete's error into "deleted" (true), "was not there"
// (false) or a real failure.
func gone(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, err
}

// found turns a describe's error into "there" (true), "not there" (false)
// or a real failure.
func found(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, err
}

// tagMap turns a CloudFormation tag list ([{Key, Value}]) into the map
// that SQS and Lambda take; nil for no tags.
func tagMap(v any) map[string]string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	tags := map[string]string{}
	for _, t := range list {
		m, _ := t.(map[string]any)
		tags[cfn.String(m["Key"])] = cfn.String(m["Value"])
	}
	return tags
}

// nonEmpty is v, or nil when v is empty, for optional string properties.
func nonEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// convert copies a resolved property tree into an SDK type; the SDK's field
// names are the CloudFormation property names for the shapes used here.
func convert(v any, out any) error {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func str(p map[string]any, key string) string { return cfn.String(p[key]) }

func optString(v any) *string {
	if v == nil {
		return nil
	}
	return aws.String(cfn.String(v))
}

func boolOf(v any) *bool {
	if v == nil {
		return nil
	}
	b, _ := strconv.ParseBool(cfn.String(v))
	return aws.Bool(b)
}

func int32Of(v any) (*int32, error) {
	if v == nil {
		return nil, nil
	}
	n, err := strconv.ParseInt(cfn.String(v), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%v is not a whole number", v)
	}
	return aws.Int32(int32(n)), nil
}

func timeOf(v any) (*time.Time, error) {
	if v == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, cfn.String(v))
	if err != nil {
		return nil, fmt.Errorf("%v is not an RFC 3339 time", v)
	}
	return &t, nil
}
