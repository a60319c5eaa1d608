package localcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

// invokeConfigPath is Lambda's EventInvokeConfig API, which kumo lacks.
var invokeConfigPath = regexp.MustCompile(`^/2019-09-25/functions/([^/]+)/event-invoke-config/?$`)

// defaultAsyncRetries is how often Lambda retries a failed asynchronous
// invocation when the function has no EventInvokeConfig.
const defaultAsyncRetries = 2

// invokeConfig is a function's EventInvokeConfig, in the API's shape.
type invokeConfig struct {
	FunctionArn              string `json:"FunctionArn"`
	LastModified             float64
	MaximumRetryAttempts     *int32 `json:",omitempty"`
	MaximumEventAgeInSeconds *int32 `json:",omitempty"`
	DestinationConfig        struct {
		OnSuccess struct{ Destination string } `json:"OnSuccess"`
		OnFailure struct{ Destination string } `json:"OnFailure"`
	}
}

// invokeConfigs holds the EventInvokeConfig of each function by name.
type invokeConfigs struct {
	mu      sync.Mutex
	configs map[string]invokeConfig
}

func (s *invokeConfigs) get(name string) (invokeConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.configs[name]
	return c, ok
}

func (s *invokeConfigs) set(name string, c invokeConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.configs == nil {
		s.configs = map[string]invokeConfig{}
	}
	s.configs[name] = c
}

func (s *invokeConfigs) remove(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.configs[name]
	delete(s.configs, name)
	return ok
}

// serveInvokeConfig answers Put, Update, Get and Delete of a function's
// EventInvokeConfig, as Lambda does, for a function kumo has.
func (c *Cloud) serveInvokeConfig(w http.ResponseWriter, r *http.Request, fnPath string) {
	name := functionName(fnPath)
	fn, err := c.functions.GetFunction(r.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+fnPath)
		return
	}
	arn := aws.ToString(fn.Configuration.FunctionArn) + ":$LATEST"
	switch r.Method {
	case http.MethodGet:
		cfg, ok := c.invokeConfigs.get(name)
		if !ok {
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "The function "+arn+" doesn't have an EventInvokeConfig")
			return
		}
		writeJSON(w, http.StatusOK, cfg)
	case http.MethodDelete:
		if !c.invokeConfigs.remove(name) {
			lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "The function "+arn+" doesn't have an EventInvokeConfig")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut, http.MethodPost:
		var cfg invokeConfig
		if old, ok := c.invokeConfigs.get(name); ok && r.Method == http.MethodPost {
			cfg = old // Update changes only what it names
		}
		if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
			lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "cannot read the request: "+err.Error())
			return
		}
		if msg := checkInvokeConfig(cfg); msg != "" {
			lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", msg)
			return
		}
		cfg.FunctionArn, cfg.LastModified = arn, float64(time.Now().Unix())
		c.invokeConfigs.set(name, cfg)
		writeJSON(w, http.StatusOK, cfg)
	default:
		lambdaError(w, http.StatusMethodNotAllowed, "InvalidRequestContentException", "unsupported method "+r.Method)
	}
}

// checkInvokeConfig applies Lambda's limits; empty means valid.
func checkInvokeConfig(cfg invokeConfig) string {
	if n := cfg.MaximumRetryAttempts; n != nil && (*n < 0 || *n > 2) {
		return fmt.Sprintf("MaximumRetryAttempts %d must be from 0 to 2", *n)
	}
	if n := cfg.MaximumEventAgeInSeconds; n != nil && (*n < 60 || *n > 21600) {
		return fmt.Sprintf("MaximumEventAgeInSeconds %d must be from 60 to 21600", *n)
	}
	for _, d := range []string{cfg.DestinationConfig.OnSuccess.Destination, cfg.DestinationConfig.OnFailure.Destination} {
		if d != "" && !strings.HasPrefix(d, "arn:") {
			return fmt.Sprintf("destination %q is not an ARN", d)
		}
	}
	return ""
}

// lambdaError writes an error the way Lambda's REST API does.
func lambdaError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("X-Amzn-ErrorType", code)
	writeJSON(w, status, map[string]string{"Type": "User", "message": message})
}

// asyncInvoker is what the scheduler invokes through: it runs the function
// synchronously, then does what Lambda does for an asynchronous invocation
// that failed: retry it (MaximumRetryAttempts of its EventInvokeConfig, 2
// by default; Lambda's waits between retries are skipped locally), then
// send an invocation record to its OnFailure destination.
type asyncInvoker struct {
	lambda  *lambda.Client
	sqs     *sqs.Client
	configs *invokeConfigs
	clock   *schedule.Clock
	logs    *linewriter.Synced
}

var _ schedule.LambdaInvoker = asyncInvoker{}

func (a asyncInvoker) Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	out, err := a.lambda.Invoke(ctx, in, optFns...)
	if err != nil || out.FunctionError == nil {
		return out, err
	}
	name := functionName(aws.ToString(in.FunctionName))
	cfg, _ := a.configs.get(name)
	retries := defaultAsyncRetries
	if cfg.MaximumRetryAttempts != nil {
		retries = int(*cfg.MaximumRetryAttempts)
	}
	invocations := 1
	for retry := 0; retry < retries && out.FunctionError != nil; retry++ {
		if out, err = a.lambda.Invoke(ctx, in, optFns...); err != nil {
			return out, err
		}
		invocations++
	}
	if out.FunctionError == nil {
		return out, nil
	}
	dest := cfg.DestinationConfig.OnFailure.Destination
	switch {
	case dest == "":
		a.logs.Printf("lambda: %s failed %d times and has no OnFailure destination; the event is dropped, as on AWS\n", name, invocations)
	case a.onFailure(ctx, dest, in, out, invocations, cfg.FunctionArn) != nil:
		a.logs.Printf("lambda: %s failed %d times; could not send the invocation record to %s\n", name, invocations, dest)
	default:
		a.logs.Printf("lambda: %s failed %d times; sent the invocation record to %s\n", name, invocations, dest)
	}
	return out, nil
}

// onFailure sends Lambda's invocation record to an SQS destination.
func (a asyncInvoker) onFailure(ctx context.Context, dest string, in *lambda.InvokeInput, out *lambda.InvokeOutput, count int, fnARN string) error {
	parts := strings.Split(dest, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return fmt.Errorf("only SQS destinations are delivered locally")
	}
	url, err := a.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5])})
	if err != nil {
		return fmt.Errorf("get queue URL: %w", err)
	}
	record := map[string]any{
		"version":   "1.0",
		"timestamp": a.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"requestContext": map[string]any{
			"requestId": uuid.NewString(), "functionArn": fnARN, "condition": "RetriesExhausted", "approximateInvokeCount": count,
		},
		"requestPayload":  json.RawMessage(in.Payload),
		"responseContext": map[string]any{"statusCode": out.StatusCode, "executedVersion": "$LATEST", "functionError": aws.ToString(out.FunctionError)},
		"responsePayload": json.RawMessage(out.Payload),
	}
	body, err := json.Marshal(record)
	if err != nil {
		return err
	}
	_, err = a.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String(string(body))})
	return err
}
