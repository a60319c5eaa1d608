// Command rotation-check is the Lambda function (binary "bootstrap" on
// provided.al2023) that EventBridge Scheduler runs every hour: it audits the
// rotation age of the secrets tagged Managed=true into DynamoDB.
//
// Configuration comes from the environment (see the README). If it is
// invalid, every invocation fails with the reason and nothing is written.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/hubimport"
	"github.com/rotation-audit/rotation-audit/internal/org"
)

// The checker receives raw payloads, so it can judge an empty or non-object
// one itself.
var _ lambda.Handler = (*audit.Checker)(nil)

// In organization mode the function is the coordinator and the worker.
var _ lambda.Handler = (*org.Handler)(nil)

func main() {
	logger := newLogger(os.Stdout)
	h, err := newHandler(os.LookupEnv, httpClient(), logger)
	if err != nil {
		logger.Error("cannot start", "error", err.Error())
		lambda.Start(failing{err})
		return
	}
	lambda.Start(h)
}

// newHandler is the single-account check when ACCOUNTS is empty (the
// tutorial, unchanged), else organization mode's coordinator and worker,
// which share the check's configuration and clock.
func newHandler(lookup func(string) (string, bool), hc aws.HTTPClient, logger *slog.Logger) (lambda.Handler, error) {
	c, err := newChecker(lookup, hc, logger)
	if err != nil {
		return nil, err
	}
	cfg, on, err := org.ConfigFromEnv(lookup, c.Config)
	if err != nil || !on {
		return c, err
	}
	awsCfg, err := awsConfig(lookup, hc)
	if err != nil {
		return nil, err
	}
	table := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = endpoint(lookup, "DYNAMODB")
	})
	accounts := organizations.NewFromConfig(awsCfg, func(o *organizations.Options) {
		o.BaseEndpoint = endpoint(lookup, "ORGANIZATIONS")
	})
	queue := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		o.BaseEndpoint = endpoint(lookup, "SQS")
	})
	roles := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		o.BaseEndpoint = endpoint(lookup, "STS")
	})
	// A member account's secrets, in one region, with the credentials its
	// reader role gave the worker.
	secretsFor := func(region string, creds aws.Credentials) audit.Secrets {
		return secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
			o.Region = region
			o.Credentials = credentials.StaticCredentialsProvider{Value: creds}
			o.BaseEndpoint = endpoint(lookup, "SECRETS_MANAGER")
		})
	}
	co := org.NewCoordinator(cfg, accounts, table, queue, logger)
	w := org.NewWorker(cfg, roles, secretsFor, table, logger)
	co.Now, w.Now = c.Now, c.Now
	// The check's importer posts to the hub's own Security Hub, in the
	// function's region, with the execution role's credentials: the
	// workers import every unit's findings there, as the hub.
	w.Findings = c.Findings
	return &org.Handler{Coordinator: co, Worker: w}, nil
}

// newLogger returns the function's JSON logger on w, and routes the
// standard logger through it too: aws-lambda-go reports a failed invocation
// and its warnings with log.Printf, and every line the function prints must
// be JSON for LogFormat JSON and for metric filters.
func newLogger(w io.Writer) *slog.Logger {
	h := slog.NewJSONHandler(w, nil)
	log.SetFlags(0)
	log.SetOutput(stdLog{h})
	return slog.New(h)
}

// stdLog writes each standard-logger line as one JSON record: a warning
// when it says so, else an error; a line that is itself a JSON object (the
// runtime's error payload) is kept as an object, not a quoted string.
type stdLog struct{ h slog.Handler }

func (s stdLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelError
	if strings.HasPrefix(msg, "WARNING") {
		level = slog.LevelWarn
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	if json.Valid([]byte(msg)) && strings.HasPrefix(msg, "{") {
		r = slog.NewRecord(time.Now(), level, "invocation failed", 0)
		r.AddAttrs(slog.Any("error", json.RawMessage(msg)))
	}
	return len(p), s.h.Handle(context.Background(), r)
}

// failing answers every invocation with the error that stopped the
// function from starting, so a bad configuration is visible and nothing
// is written.
type failing struct{ err error }

func (f failing) Invoke(context.Context, []byte) ([]byte, error) { return nil, f.err }

// newChecker validates the configuration and builds the SDK clients once,
// for every invocation of this execution environment, sending their
// requests through hc.
func newChecker(lookup func(string) (string, bool), hc aws.HTTPClient, logger *slog.Logger) (*audit.Checker, error) {
	cfg, err := audit.ConfigFromEnv(lookup)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsConfig(lookup, hc)
	if err != nil {
		return nil, err
	}
	secrets := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = endpoint(lookup, "SECRETS_MANAGER")
	})
	table := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = endpoint(lookup, "DYNAMODB")
	})
	c := audit.New(secrets, table, cfg, logger)
	if now := cloudClock(lookup, hc); now != nil {
		c.Now = now
	}
	if cfg.SecurityHubFindings {
		// One importer per execution environment, so its quota carries
		// across warm invocations. Its transport, not the SDK's Security
		// Hub client, keeps the bootstrap under 10 MB.
		c.Findings = &hubimport.Importer{Client: &hubimport.Transport{
			HTTP: awsCfg.HTTPClient, Credentials: awsCfg.Credentials, Region: awsCfg.Region,
			Endpoint: aws.ToString(endpoint(lookup, "SECURITYHUB")),
		}}
	}
	return c, nil
}

// cloudClock is the clock of the embedded local cloud when
// AWS_ENDPOINT_URL is one (it answers clockapi.InfoPath with a runner),
// else nil: that cloud's time can run days ahead of this machine's (make
// local-up, then a clock advance), and the function judges manual runs and
// refuses scheduled times in the future by the cloud's time, as it does
// by its own clock on AWS. It asks once, at start; a clock that cannot be
// read later falls back to this machine's.
func cloudClock(lookup func(string) (string, bool), hc aws.HTTPClient) func() time.Time {
	endpoint := strings.TrimSuffix(first(lookup, "AWS_ENDPOINT_URL"), "/")
	if endpoint == "" {
		return nil
	}
	var info clockapi.Info
	if getJSON(hc, endpoint+clockapi.InfoPath, &info) != nil || !info.Runner {
		return nil
	}
	return func() time.Time {
		var state clockapi.ClockState
		if err := getJSON(hc, endpoint+clockapi.ClockPath, &state); err != nil || state.Now.IsZero() {
			return time.Now()
		}
		return state.Now
	}
}

// getJSON decodes the answer of a GET into out, within two seconds.
func getJSON(hc aws.HTTPClient, url string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// awsConfig reads the region and the execution role's credentials from the
// variables the Lambda runtime sets: access keys, or a container
// credentials endpoint with its authorization token. config.LoadDefaultConfig
// would do the same but links SSO, SSO OIDC, sign-in, STS, IMDS and SigV4a
// code the function never uses: with config v1.33 the linux/arm64 binary
// is 10.2 MB instead of 8.2 MB, past the 10 MB bound CI holds it to.
//
// The retry policy is set here and nowhere else: audit.NewRetryer replaces
// the SDK's default retryer on every client (see internal/audit/retry.go
// for what each call path retries, and how often).
func awsConfig(lookup func(string) (string, bool), hc aws.HTTPClient) (aws.Config, error) {
	region := first(lookup, "AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		return aws.Config{}, errors.New("AWS_REGION is not set (the Lambda runtime sets it)")
	}
	id, _ := lookup("AWS_ACCESS_KEY_ID")
	secret, _ := lookup("AWS_SECRET_ACCESS_KEY")
	token, _ := lookup("AWS_SESSION_TOKEN")
	cfg := aws.Config{Region: region, HTTPClient: hc, Retryer: audit.NewRetryer}
	switch uri := first(lookup, "AWS_CONTAINER_CREDENTIALS_FULL_URI"); {
	case id != "" && secret != "":
		cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, token)
	case uri != "":
		cfg.Credentials = aws.NewCredentialsCache(endpointcreds.New(uri, func(o *endpointcreds.Options) {
			o.AuthorizationToken = first(lookup, "AWS_CONTAINER_AUTHORIZATION_TOKEN")
			if file := first(lookup, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); file != "" {
				o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
					b, err := os.ReadFile(file)
					return strings.TrimSpace(string(b)), err
				})
			}
		}))
	default:
		return aws.Config{}, errors.New("no credentials: neither AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set (the Lambda runtime sets one of them)")
	}
	return cfg, nil
}

// httpClient is the SDK's default client, keeping enough idle connections
// per host for every call the run has in flight (lookups, writers and the
// lister). The SDK keeps 10, so a run with more calls in flight would open
// a new connection, and on AWS shake hands over TLS, for most calls.
func httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = audit.DefaultLookups + audit.DefaultWriters + 2
	})
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
