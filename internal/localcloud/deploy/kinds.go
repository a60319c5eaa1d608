package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

// The kinds, one file per service: dynamodb.go, secretsmanager.go, sqs.go,
// iam.go, lambda.go, scheduler.go, sns.go and cloudwatch.go. This file
// holds the table of kinds and the property helpers they share.

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
			"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "SqsManagedSseEnabled", "KmsMasterKeyId", "RedrivePolicy", "Tags"},
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
	// An event source mapping's physical ID is a UUID Lambda makes up, so
	// its name here is its function's: Ref gives the UUID, and a teardown
	// finds the mappings from the function.
	"AWS::Lambda::EventSourceMapping": {
		name: nameRule{"FunctionName", 140, regexp.MustCompile(`^[a-zA-Z0-9_:-]+$`), "letters, digits, _ - and :"},
		props: []string{"FunctionName", "EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds", "Enabled",
			"FunctionResponseTypes", "ScalingConfig"},
		attrs:  []string{"Id", "EventSourceMappingArn"},
		deploy: deployEventSourceMapping, remove: removeEventSourceMappings, exists: eventSourceMappingExists,
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
