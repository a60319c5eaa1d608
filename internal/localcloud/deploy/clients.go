package deploy

import (
	"errors"
	"net/http"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// Clients are SDK clients for every service the stack uses, all pointed at
// one endpoint.
type Clients struct {
	Endpoint       string
	Region         string
	DynamoDB       *dynamodb.Client
	SecretsManager *secretsmanager.Client
	IAM            *iam.Client
	Lambda         *lambda.Client
	Scheduler      *scheduler.Client
	SQS            *sqs.Client
	STS            *sts.Client
	SNS            *sns.Client
	CloudWatch     *cloudwatch.Client
}

// NewClients returns clients for a local endpoint (the embedded cloud,
// LocalEmu, LocalStack or moto), which accept any credentials.
func NewClients(endpoint, region string) *Clients {
	return NewAccountClients(endpoint, region, "")
}

// NewAccountClients returns clients that act as account: their access key
// ID is the account ID, which the embedded cloud and LocalStack take as the
// caller's account. An empty account is the endpoint's default one.
func NewAccountClients(endpoint, region, account string) *Clients {
	key := "test"
	if account != "" {
		key = account
	}
	cfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
	return &Clients{
		Endpoint:       endpoint,
		Region:         region,
		DynamoDB:       dynamodb.NewFromConfig(cfg),
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		IAM:            iam.NewFromConfig(cfg),
		Lambda:         lambda.NewFromConfig(cfg),
		Scheduler:      scheduler.NewFromConfig(cfg),
		SQS:            sqs.NewFromConfig(cfg),
		STS:            sts.NewFromConfig(cfg),
		SNS:            sns.NewFromConfig(cfg),
		CloudWatch:     cloudwatch.NewFromConfig(cfg),
	}
}

// notFoundCodes are the error codes services use for "no such resource".
var notFoundCodes = []string{
	"ResourceNotFoundException", "NoSuchEntity", "QueueDoesNotExist",
	"AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue", "NotFound", "ResourceNotFound",
}

// unsupportedCodes are the error codes an emulator uses for an API it lacks.
var unsupportedCodes = []string{
	"UnknownOperationException", "InvalidAction", "NotImplemented", "NotImplementedException",
}

// isNotFound reports whether err says the resource does not exist.
func isNotFound(err error) bool { return hasCode(err, notFoundCodes) }

// isUnsupported reports whether err says the endpoint lacks the API: an
// "unknown operation" code, or a 404 that carries no AWS error at all (a
// protocol the endpoint does not speak, such as the RPC v2 CBOR that
// CloudWatch's SDK client uses, which moto does not).
func isUnsupported(err error) bool {
	if hasCode(err, unsupportedCodes) {
		return true
	}
	var resp *awshttp.ResponseError
	var api smithy.APIError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound && !errors.As(err, &api)
}

func hasCode(err error, codes []string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && slices.Contains(codes, apiErr.ErrorCode())
}
