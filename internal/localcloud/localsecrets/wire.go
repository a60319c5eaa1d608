package localsecrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// targetPrefix starts the X-Amz-Target header of every Secrets Manager
// request; the operation name follows it.
const targetPrefix = "secretsmanager."

// maxRequestBody bounds a request body: a secret value is at most 64 KiB.
const maxRequestBody = 1 << 20

// handler answers one operation from its JSON body. It runs with the store's
// lock held, and now is the request's moment on the cloud clock.
type handler func(s *Store, body []byte, now time.Time) (any, error)

// operations are the operations this store answers, by name.
var operations = map[string]handler{
	"CreateSecret":             op((*Store).createSecret),
	"DescribeSecret":           op((*Store).describeSecret),
	"GetSecretValue":           op((*Store).getSecretValue),
	"PutSecretValue":           op((*Store).putSecretValue),
	"UpdateSecret":             op((*Store).updateSecret),
	"DeleteSecret":             op((*Store).deleteSecret),
	"RestoreSecret":            op((*Store).restoreSecret),
	"TagResource":              op((*Store).tagResource),
	"UntagResource":            op((*Store).untagResource),
	"RotateSecret":             op((*Store).rotateSecret),
	"UpdateSecretVersionStage": op((*Store).updateSecretVersionStage),
	"ListSecretVersionIds":     op((*Store).listSecretVersionIds),
	"ListSecrets":              op((*Store).listSecrets),
	"GetRandomPassword":        op((*Store).getRandomPassword),

	"ReplicateSecretToRegions":     op((*Store).replicateSecretToRegions),
	"RemoveRegionsFromReplication": op((*Store).removeRegionsFromReplication),
	"StopReplicationToReplica":     op((*Store).stopReplicationToReplica),
}

// op adapts a typed operation to a handler by decoding the body into In.
func op[In any](f func(*Store, *In, time.Time) (any, error)) handler {
	return func(s *Store, body []byte, now time.Time) (any, error) {
		in := new(In)
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, &apiError{"SerializationException", fmt.Sprintf("cannot decode the request body: %v", err)}
			}
		}
		return f(s, in, now)
	}
}

// ServeHTTP answers one Secrets Manager request.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, targetPrefix)
	h := operations[name]
	if !ok || h == nil || r.Method != http.MethodPost {
		// What AWS answers for an operation it does not know. AWS sends no
		// message; this one names the target for whoever reads the log.
		writeError(w, &apiError{"UnknownOperationException", "Unknown operation: " + target})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		writeError(w, &apiError{"SerializationException", fmt.Sprintf("cannot read the request body: %v", err)})
		return
	}
	status, out := s.answer(name, h, body)
	write(w, status, out)
}

// readOnly are the operations that change nothing a listing sorts or
// selects by.
var readOnly = map[string]bool{"ListSecrets": true, "ListSecretVersionIds": true, "DescribeSecret": true, "GetRandomPassword": true}

// answer runs h under the lock and encodes its result there too, so that a
// response never shares state with a later request.
func (s *Store) answer(name string, h handler, body []byte) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.purge(now)
	if !readOnly[name] {
		s.changed()
	}
	err := s.refuseOnReplica(name, body)
	var out any
	if err == nil {
		out, err = h(s, body, now)
	}
	if err == nil && !readOnly[name] {
		s.syncReplicas()
	}
	status := http.StatusOK
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			return http.StatusInternalServerError, errorBody(&apiError{"InternalServiceError", err.Error()})
		}
		status, out = http.StatusBadRequest, ae
	}
	b, err := json.Marshal(out)
	if err != nil {
		return http.StatusInternalServerError, errorBody(&apiError{"InternalServiceError", fmt.Sprintf("encode the response: %v", err)})
	}
	return status, b
}

func writeError(w http.ResponseWriter, e *apiError) {
	write(w, http.StatusBadRequest, errorBody(e))
}

func errorBody(e *apiError) []byte {
	b, _ := json.Marshal(e) // two strings always encode
	return b
}

func write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client hung up: nobody is left to tell
}

// apiError is an error as awsJson1_1 sends it: HTTP 400 with the error type
// in __type. The SDK turns the type into its typed error, for example
// *types.ResourceNotFoundException.
type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func errNotFound() error {
	return &apiError{"ResourceNotFoundException", "Secrets Manager can't find the specified secret."}
}

func errInvalidParameter(msg string) error { return &apiError{"InvalidParameterException", msg} }
func errInvalidRequest(msg string) error   { return &apiError{"InvalidRequestException", msg} }
func errExists(msg string) error           { return &apiError{"ResourceExistsException", msg} }

// errValidation is the error AWS's request validation gives for a value
// outside its shape's constraints, in AWS's wording.
func errValidation(value any, field, constraint string) error {
	return &apiError{"ValidationException", fmt.Sprintf(
		"1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: Member must %s", value, field, constraint)}
}

func errRequired(field string) error {
	return &apiError{"ValidationException", fmt.Sprintf(
		"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)}
}

// epoch is a timestamp as awsJson1_1 sends it: seconds since the Unix epoch
// as a JSON number with a fraction (milliseconds, as AWS sends them).
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(e).UnixMilli())/1000, 'f', 3, 64), nil
}

// stamp returns t for the wire, or nil (left out) when t is unset.
func stamp(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// tag is AWS's Tag shape.
type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// rotationRules is AWS's RotationRulesType shape.
type rotationRules struct {
	AutomaticallyAfterDays int64  `json:"AutomaticallyAfterDays,omitempty"`
	Duration               string `json:"Duration,omitempty"`
	ScheduleExpression     string `json:"ScheduleExpression,omitempty"`
}

// secretEntry is AWS's SecretListEntry shape, which DescribeSecretResponse
// shares except for the name of the versions map.
type secretEntry struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyID               string              `json:"KmsKeyId,omitempty"`
	RotationEnabled        bool                `json:"RotationEnabled,omitempty"`
	RotationLambdaARN      string              `json:"RotationLambdaARN,omitempty"`
	RotationRules          *rotationRules      `json:"RotationRules,omitempty"`
	LastRotatedDate        *epoch              `json:"LastRotatedDate,omitempty"`
	LastChangedDate        *epoch              `json:"LastChangedDate,omitempty"`
	LastAccessedDate       *epoch              `json:"LastAccessedDate,omitempty"`
	DeletedDate            *epoch              `json:"DeletedDate,omitempty"`
	NextRotationDate       *epoch              `json:"NextRotationDate,omitempty"`
	Tags                   []tag               `json:"Tags,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"` // ListSecrets
	VersionIdsToStages     map[string][]string `json:"VersionIdsToStages,omitempty"`     // DescribeSecret
	OwningService          string              `json:"OwningService,omitempty"`
	CreatedDate            *epoch              `json:"CreatedDate,omitempty"`
	PrimaryRegion          string              `json:"PrimaryRegion,omitempty"`
	ReplicationStatus      []replicationStatus `json:"ReplicationStatus,omitempty"` // DescribeSecret
}

// secretRef is the answer most operations give: the secret's ARN and name,
// and what the operation made, when it made something.
type secretRef struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId,omitempty"`
	VersionStages []string `json:"VersionStages,omitempty"` // PutSecretValue
	DeletionDate  *epoch   `json:"DeletionDate,omitempty"`  // DeleteSecret

	ReplicationStatus []replicationStatus `json:"ReplicationStatus,omitempty"` // CreateSecret
}
