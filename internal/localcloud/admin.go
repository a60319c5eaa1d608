package localcloud

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

	"github.com/rotation-audit/rotation-audit/internal/schedule"
)

// Info describes an embedded local cloud endpoint.
type Info struct {
	Emulator string `json:"emulator"`
	Runner   bool   `json:"runner"`
	GOOS     string `json:"goos"`
	GOARCH   string `json:"goarch"`
}

// Probe asks an endpoint whether it is an embedded local cloud. ok is false
// for anything else (LocalEmu, LocalStack, moto).
func Probe(ctx context.Context, endpoint string) (info Info, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+infoPath, nil)
	if err != nil {
		return Info{}, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Info{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil || !info.Runner {
		return Info{}, false
	}
	return info, true
}

// ClockState is what GET /_localcloud/clock answers.
type ClockState struct {
	Now       time.Time        `json:"now"`
	Speed     float64          `json:"speed"`
	Schedules []schedule.Armed `json:"schedules"`
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

// clockError is the admin API's error body.
type clockError struct {
	Error string `json:"error"`
}

// serveClock answers GET and POST on the clock path.
func (c *Cloud) serveClock(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, c.clockState())
	case http.MethodPost:
		moved, err := c.moveClock(r)
		var bad badRequest
		switch {
		case errors.As(err, &bad):
			writeJSON(w, http.StatusBadRequest, clockError{err.Error()})
		case err != nil:
			writeJSON(w, http.StatusConflict, clockError{err.Error()})
		default:
			writeJSON(w, http.StatusOK, moved)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, clockError{"use GET to read the clock, POST to move it"})
	}
}

func (c *Cloud) clockState() ClockState {
	clock := c.scheduler.Clock()
	return ClockState{Now: clock.Now().UTC(), Speed: clock.Speed(), Schedules: c.scheduler.Schedules()}
}

// badRequest marks an error the caller must fix (400), as opposed to one
// the clock refuses (409).
type badRequest struct{ error }

func (c *Cloud) moveClock(r *http.Request) (ClockMoved, error) {
	var move ClockMove
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return ClockMoved{}, badRequest{err}
	}
	if err := json.Unmarshal(body, &move); err != nil {
		return ClockMoved{}, badRequest{fmt.Errorf(`want {"advance":"31d"} or {"to":"2027-02-28T00:00:00Z"}: %w`, err)}
	}
	now := c.scheduler.Clock().Now()
	to, err := target(move, now)
	if err != nil {
		return ClockMoved{}, badRequest{err}
	}
	if move.SkipFires {
		return ClockMoved{From: now.UTC(), To: to.UTC()}, c.scheduler.Jump(to)
	}
	rep, err := c.scheduler.Advance(r.Context(), to)
	moved := ClockMoved{From: rep.From.UTC(), To: rep.To.UTC(), Fired: rep.Fired, Failed: rep.Failed, TookMS: rep.Took.Milliseconds()}
	return moved, err
}

// target is the time a move asks for, from now.
func target(move ClockMove, now time.Time) (time.Time, error) {
	switch {
	case move.Advance != "" && move.To != "":
		return time.Time{}, errors.New(`give "advance" or "to", not both`)
	case move.Advance != "":
		d, err := schedule.ParseDuration(move.Advance)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(d), nil
	case move.To != "":
		return schedule.ParseTime(move.To)
	}
	return time.Time{}, errors.New(`give "advance" (such as "31d") or "to" (such as "2027-02-28T00:00:00Z")`)
}

// ReadClock asks an embedded cloud for its clock.
func ReadClock(ctx context.Context, endpoint string) (ClockState, error) {
	var state ClockState
	err := callAdmin(ctx, http.MethodGet, endpoint, nil, &state)
	return state, err
}

// MoveClock asks an embedded cloud to move its clock forward, and returns
// when every fire in the span has run.
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
	url := strings.TrimSuffix(endpoint, "/") + clockPath
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("clock at %s: %w", endpoint, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no local cloud answers at %s (start one with make local-up): %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s is not this tool's embedded cloud: it has no clock to move (LocalEmu and moto run on real time)", endpoint)
	}
	if resp.StatusCode != http.StatusOK {
		var e clockError
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error == "" {
			return fmt.Errorf("clock at %s: %s", endpoint, resp.Status)
		}
		return errors.New(e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("clock at %s: unexpected answer: %w", endpoint, err)
	}
	return nil
}
