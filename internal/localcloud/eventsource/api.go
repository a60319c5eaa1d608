package eventsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
)

// apiPath is where Lambda's event source mapping API lives.
const apiPath = "/2015-03-31/event-source-mappings"

// IsAPI reports whether a request path belongs to the event source mapping
// API, which ServeHTTP answers.
func IsAPI(path string) bool {
	return strings.TrimSuffix(path, "/") == apiPath || strings.HasPrefix(path, apiPath+"/")
}

// request is the body of a Create or Update. Pointers tell a setting left
// out from one set to its zero value.
type request struct {
	FunctionName                   *string
	EventSourceArn                 *string
	BatchSize                      *int
	MaximumBatchingWindowInSeconds *int
	Enabled                        *bool
	FunctionResponseTypes          *[]string
	ScalingConfig                  *ScalingConfig
}

// requestFields are the request's fields; any other (FilterCriteria,
// DestinationConfig, ...) is refused rather than ignored.
var requestFields = []string{"FunctionName", "EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds",
	"Enabled", "FunctionResponseTypes", "ScalingConfig"}

// apiError is an error the API answers with its Lambda error code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf(format, args...)}
}

// ServeHTTP answers Lambda's CreateEventSourceMapping,
// GetEventSourceMapping, UpdateEventSourceMapping, DeleteEventSourceMapping
// and ListEventSourceMappings for SQS sources.
func (ms *Mappings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, _ := url.PathUnescape(strings.Trim(strings.TrimPrefix(r.URL.Path, apiPath), "/"))
	var (
		m      Mapping
		status = http.StatusAccepted
		err    error
	)
	switch {
	case id == "" && r.Method == http.MethodPost:
		m, err = ms.create(r)
	case id == "" && r.Method == http.MethodGet:
		ms.list(w, r)
		return
	case id != "" && r.Method == http.MethodGet:
		m, err = ms.get(id)
		status = http.StatusOK
	case id != "" && r.Method == http.MethodPut:
		m, err = ms.update(r, id)
	case id != "" && r.Method == http.MethodDelete:
		m, err = ms.remove(id)
	default:
		err = &apiError{http.StatusMethodNotAllowed, "InvalidRequestContentException", "unsupported method " + r.Method}
	}
	var api *apiError
	switch {
	case errors.As(err, &api):
		writeError(w, api)
	case err != nil:
		writeError(w, &apiError{http.StatusInternalServerError, "ServiceException", err.Error()})
	default:
		writeJSON(w, status, m)
	}
}

// decode reads a Create or Update body, refusing settings the local poller
// does not implement.
func decode(r *http.Request) (request, error) {
	var req request
	var fields map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&fields); err != nil {
		return req, invalid("cannot read the request: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(requestFields, k) {
			return req, invalid("%s is not supported locally (only %s)", k, strings.Join(requestFields, ", "))
		}
	}
	data, _ := json.Marshal(fields)
	if err := json.Unmarshal(data, &req); err != nil {
		return req, invalid("cannot read the request: %v", err)
	}
	return req, nil
}

func (ms *Mappings) create(r *http.Request) (Mapping, error) {
	req, err := decode(r)
	if err != nil {
		return Mapping{}, err
	}
	if req.FunctionName == nil || req.EventSourceArn == nil {
		return Mapping{}, invalid("FunctionName and EventSourceArn are required")
	}
	src, ok := parseQueueARN(*req.EventSourceArn)
	if !ok {
		return Mapping{}, invalid("EventSourceArn %q: only SQS queues (arn:aws:sqs:REGION:ACCOUNT:NAME) are polled locally", *req.EventSourceArn)
	}
	fnARN, err := ms.functionARN(r, *req.FunctionName)
	if err != nil {
		return Mapping{}, err
	}
	queueURL, err := ms.opts.Queues.GetQueueUrl(r.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String(src.name), QueueOwnerAWSAccountId: aws.String(src.account)})
	if err != nil {
		return Mapping{}, invalid("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue %s does not exist", *req.EventSourceArn)
	}
	id := uuid.NewString()
	m := Mapping{
		UUID:                  id,
		EventSourceMappingArn: fmt.Sprintf("arn:%s:lambda:%s:%s:event-source-mapping:%s", src.partition, src.region, src.account, id),
		EventSourceArn:        *req.EventSourceArn,
		FunctionArn:           fnARN,
		BatchSize:             defaultBatchSize,
		State:                 "Enabled",
		StateTransitionReason: "USER_INITIATED",
	}
	apply(&m, req)
	if err := m.check(strings.HasSuffix(src.name, ".fifo")); err != nil {
		return Mapping{}, invalid("%v", err)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, s := range ms.sources {
		if !s.removed && s.m.FunctionArn == m.FunctionArn && s.m.EventSourceArn == m.EventSourceArn {
			return Mapping{}, &apiError{http.StatusConflict, "ResourceConflictException", fmt.Sprintf(
				"An event source mapping with SQS arn (\" %s \") and function (\" %s \") already exists. Please update or delete the existing mapping with UUID %s",
				m.EventSourceArn, functionName(m.FunctionArn), s.m.UUID)}
		}
	}
	m.LastModified = epoch(ms.opts.Now())
	s := &source{m: m, queue: src, queueURL: aws.ToString(queueURL.QueueUrl)}
	ms.sources[id] = s
	ms.order = append(ms.order, id)
	ms.changedLocked(s)
	return m, nil
}

func (ms *Mappings) get(id string) (Mapping, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	s, ok := ms.sources[id]
	if !ok || s.removed {
		return Mapping{}, notFound("The resource you requested does not exist. (Service: Lambda, Status Code: 404) UUID %s", id)
	}
	return s.m, nil
}

func (ms *Mappings) update(r *http.Request, id string) (Mapping, error) {
	req, err := decode(r)
	if err != nil {
		return Mapping{}, err
	}
	if req.EventSourceArn != nil {
		return Mapping{}, invalid("EventSourceArn cannot be updated")
	}
	fnARN := ""
	if req.FunctionName != nil {
		if fnARN, err = ms.functionARN(r, *req.FunctionName); err != nil {
			return Mapping{}, err
		}
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	s, ok := ms.sources[id]
	if !ok || s.removed {
		return Mapping{}, notFound("The resource you requested does not exist. (Service: Lambda, Status Code: 404) UUID %s", id)
	}
	m := s.m
	apply(&m, req)
	if fnARN != "" {
		m.FunctionArn = fnARN
	}
	if err := m.check(strings.HasSuffix(s.queue.name, ".fifo")); err != nil {
		return Mapping{}, invalid("%v", err)
	}
	m.LastModified = epoch(ms.opts.Now())
	s.m = m
	ms.changedLocked(s)
	return m, nil
}

func (ms *Mappings) remove(id string) (Mapping, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	s, ok := ms.sources[id]
	if !ok || s.removed {
		return Mapping{}, notFound("The resource you requested does not exist. (Service: Lambda, Status Code: 404) UUID %s", id)
	}
	s.removed = true
	ms.order = slices.DeleteFunc(ms.order, func(o string) bool { return o == id })
	ms.forgetLocked(s)
	m := s.m
	m.State = "Deleting"
	return m, nil
}

// list answers ListEventSourceMappings in creation order, filtered by
// function and source, paged with Marker and MaxItems.
func (ms *Mappings) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fn, source := functionName(q.Get("FunctionName")), q.Get("EventSourceArn")
	start, _ := strconv.Atoi(q.Get("Marker"))
	limit, err := strconv.Atoi(q.Get("MaxItems"))
	if err != nil || limit < 1 || limit > 10_000 {
		limit = 100
	}
	ms.mu.Lock()
	var all []Mapping
	for _, id := range ms.order {
		m := ms.sources[id].m
		if (fn == "" || functionName(m.FunctionArn) == fn) && (source == "" || m.EventSourceArn == source) {
			all = append(all, m)
		}
	}
	ms.mu.Unlock()
	out := struct {
		EventSourceMappings []Mapping
		NextMarker          string `json:",omitempty"`
	}{EventSourceMappings: []Mapping{}}
	if start < 0 || start > len(all) {
		start = len(all)
	}
	end := min(start+limit, len(all))
	out.EventSourceMappings = append(out.EventSourceMappings, all[start:end]...)
	if end < len(all) {
		out.NextMarker = strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, out)
}

// apply copies what a request sets into m.
func apply(m *Mapping, req request) {
	if req.BatchSize != nil {
		m.BatchSize = *req.BatchSize
	}
	if req.MaximumBatchingWindowInSeconds != nil {
		m.MaximumBatchingWindowInSeconds = *req.MaximumBatchingWindowInSeconds
	}
	if req.Enabled != nil {
		m.State = "Disabled"
		if *req.Enabled {
			m.State = "Enabled"
		}
	}
	if req.FunctionResponseTypes != nil {
		m.FunctionResponseTypes = *req.FunctionResponseTypes
	}
	if req.ScalingConfig != nil {
		m.ScalingConfig = req.ScalingConfig
		if m.ScalingConfig.MaximumConcurrency == 0 {
			m.ScalingConfig = nil
		}
	}
}

// functionARN looks a function up and returns its unqualified ARN.
func (ms *Mappings) functionARN(r *http.Request, name string) (string, error) {
	out, err := ms.opts.Functions.GetFunction(r.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil || out.Configuration == nil {
		return "", notFound("Function not found: %s", name)
	}
	return aws.ToString(out.Configuration.FunctionArn), nil
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.code)
	writeJSON(w, e.status, map[string]string{"Type": "User", "message": e.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
