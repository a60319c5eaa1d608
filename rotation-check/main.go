// Command rotation-check is the Lambda function (binary "bootstrap" on
// provided.al2023) that EventBridge Scheduler runs every hour: it audits the
// rotation age of the secrets tagged Managed=true into DynamoDB.
//
// Configuration comes from the environment (see the README). If it is
// invalid, every invocation fails with the reason and nothing is written.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// The checker receives raw payloads, so it can judge an empty or non-object
// one itself.
var _ lambda.Handler = (*audit.Checker)(nil)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := newChecker(os.LookupEnv, logger)
	if err != nil {
		logger.Error("cannot start", "error", err.Error())
		lambda.Start(failing{err})
		return
	}
	lambda.Start(c)
}

// failing answers every invocation with the error that stopped the
// function from starting, so a bad configuration is visible and nothing
// is written.
type failing struct{ err error }

func (f failing) Invoke(context.Context, []byte) ([]byte, error) { return nil, f.err }

// newChecker validates the configuration and builds the SDK clients once,
// for every invocation of this execution environment.
func newChecker(lookup func(string) (string, bool), logger *slog.Logger) (*audit.Checker, error) {
	cfg, err := audit.ConfigFromEnv(lookup)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsConfig(lookup)
	if err != nil {
		return nil, err
	}
	secrets := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = endpoint(lookup, "SECRETS_MANAGER")
	})
	table := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = endpoint(lookup, "DYNAMODB")
	})
	return audit.New(secrets, table, cfg, logger), nil
}

// awsConfig reads the region and the execution role's credentials from the
// variables the Lambda runtime sets. config.LoadDefaultConfig would do the
// same but links SSO, STS and IMDS clients the function never uses, which
// pushes the binary past 10 MB.
func awsConfig(lookup func(string) (string, bool)) (aws.Config, error) {
	region := first(lookup, "AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		return aws.Config{}, errors.New("AWS_REGION is not set (the Lambda runtime sets it)")
	}
	id, _ := lookup("AWS_ACCESS_KEY_ID")
	secret, _ := lookup("AWS_SECRET_ACCESS_KEY")
	token, _ := lookup("AWS_SESSION_TOKEN")
	if id == "" || secret == "" {
		return aws.Config{}, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the Lambda runtime sets them)")
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, token),
	}, nil
}

// endpoint honours AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, as the
// SDK's shared configuration does; empty (the template's default) means AWS.
func endpoint(lookup func(string) (string, bool), service string) *string {
	if url := first(lookup, "AWS_ENDPOINT_URL_"+service, "AWS_ENDPOINT_URL"); url != "" {
		return aws.String(url)
	}
	return nil
}

// first returns the first non-empty value among the named variables.
func first(lookup func(string) (string, bool), names ...string) string {
	for _, name := range names {
		if v, _ := lookup(name); v != "" {
			return v
		}
	}
	return ""
}
