// Package clockapi is the client side of the embedded local cloud's admin
// API: what kind of endpoint this is (/_localcloud/info) and its cloud
// clock (/_localcloud/clock), read and moved forward. The local cloud
// serves it; the commands call it without linking the emulator.
//
// It imports only the standard library.
package clockapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The admin paths.
const (
	InfoPath  = "/_localcloud/info"
	ClockPath = "/_localcloud/clock"
)

// Info describes an embedded local cloud endpoint.
type Info struct {
	Emulator string `json:"emulator"`
	Runner   bool   `json:"runner"`
	GOOS     string `json:"goos"`
	GOARCH   string `json:"goarch"`
}

// ClockState is what GET /_localcloud/clock answers.
type ClockState struct {
	Now       time.Time `json:"now"`
	Speed     float64   `json:"speed"`
	Schedules []Armed   `json:"schedules"`
}

// ClockMove is the body of POST /_localcloud/clock: advance by a duration
// ("744h", "31d") or move to a time (RFC 3339 or a date), not both.
// SkipFires moves the clock without firing the schedules in between.
type ClockMove struct {
	Advance   string `json:"advance,omitempty"`
	To        string `json:"to,omitempty"`
	SkipFires bool   `json:"skip_fires,omitempty"`
}

// ClockMoved is what POST /_localcloud/clock answers once every fire in
// the span has run.
type ClockMoved struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Fired  int       `json:"fired"`
	Failed int       `json:"failed"`
	TookMS int64     `json:"took_ms"`
}

// Error is the admin API's error body.
type Error struct {
	Error string `json:"error"`
}

// Armed describes one armed schedule.
type Armed struct {
	Name       string    `json:"name"`
	Expression string    `json:"expression"`
	NextFire   time.Time `json:"next_fire"`
}

// The errors of the calls below wrap one of these, so a command can tell
// a local cloud that is not there, or a request it refused, from a
// failure.
var (
	// ErrUnreachable: nothing answers HTTP at the endpoint.
	ErrUnreachable = errors.New("unreachable")
	// ErrRefused: the endpoint refused the request as the caller's
	// mistake (HTTP 4xx): a malformed move, a move backwards or one that
	// fires too much, or an endpoint that is not an embedded cloud.
	ErrRefused = errors.New("refused")
)

// callError is an error of kind ErrUnreachable or ErrRefused whose text is
// only the message, one line for a person.
type callError struct {
	msg   string
	kind  error
	cause error
}

func (e *callError) Error() string { return e.msg }

func (e *callError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// unreachable says that nothing answered at endpoint, and what to run.
func unreachable(endpoint string, cause error) error {
	return &callError{msg: fmt.Sprintf("cannot reach the local cloud at %s: is `make local-up` running?", endpoint), kind: ErrUnreachable, cause: cause}
}

// get sends a GET to endpoint's path; a transport error wraps
// ErrUnreachable.
func get(ctx context.Context, endpoint, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", endpoint, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, unreachable(endpoint, err)
	}
	return resp, nil
}

// Reach returns an error wrapping ErrUnreachable when nothing answers
// HTTP at endpoint. Any answer will do: LocalEmu, LocalStack and moto
// answer the info path too, if only with 404.
func Reach(ctx context.Context, endpoint string) error {
	resp, err := get(ctx, endpoint, InfoPath)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Probe asks an endpoint whether it is an embedded local cloud. ok is false
// for anything else (LocalEmu, LocalStack, moto) and when nothing answers.
func Probe(ctx context.Context, endpoint string) (info Info, ok bool) {
	resp, err := get(ctx, endpoint, InfoPath)
	if err != nil {
		return Info{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil || !info.Runner {
		return Info{}, false
	}
	return info, true
}

// ReadClock asks an embedded cloud for its clock.
func ReadClock(ctx context.Context, endpoint string) (ClockState, error) {
	var state ClockState
	err := callAdmin(ctx, http.MethodGet, endpoint, nil, &state)
	return state, err
}

// MoveClock asks an embedded cloud to move its clock forward, and returns
// when every fire in the span has run. A move sent while another is in
// progress waits for it, then makes its own full move.
func MoveClock(ctx context.Context, endpoint string, move ClockMove) (ClockMoved, error) {
	var moved ClockMoved
	err := callAdmin(ctx, http.MethodPost, endpoint, move, &moved)
	return moved, err
}

// callAdmin calls the clock path and decodes the answer or its error.
func callAdmin(ctx context.Context, method, endpoint string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	url := strings.TrimSuffix(endpoint, "/") + ClockPath
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("clock at %s: %w", endpoint, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return unreachable(endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return &callError{msg: fmt.Sprintf("%s is not this tool's embedded cloud: it has no clock to move (LocalEmu and moto run on real time)", endpoint), kind: ErrRefused}
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		msg := fmt.Sprintf("clock at %s: %s", endpoint, resp.Status)
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode/100 == 4 {
			return &callError{msg: msg, kind: ErrRefused}
		}
		return errors.New(msg)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("clock at %s: unexpected answer: %w", endpoint, err)
	}
	return nil
}
