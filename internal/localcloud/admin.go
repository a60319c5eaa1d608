package localcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

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
			writeJSON(w, http.StatusBadRequest, clockapi.Error{Error: err.Error()})
		case errors.Is(err, schedule.ErrBackwards), errors.Is(err, schedule.ErrTooManyFires):
			writeJSON(w, http.StatusConflict, clockapi.Error{Error: err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, clockapi.Error{Error: err.Error()})
		default:
			writeJSON(w, http.StatusOK, moved)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, clockapi.Error{Error: "use GET to read the clock, POST to move it"})
	}
}

func (c *Cloud) clockState() clockapi.ClockState {
	clock := c.scheduler.Clock()
	state := clockapi.ClockState{Now: clock.Now().UTC(), Speed: clock.Speed()}
	for _, a := range c.scheduler.Schedules() {
		state.Schedules = append(state.Schedules, clockapi.Armed{Name: a.Name, Expression: a.Expression, NextFire: a.NextFire})
	}
	return state
}

// badRequest marks an error the caller must fix in the request (400), as
// opposed to a move the clock refuses (409) or one that failed (500).
type badRequest struct{ error }

// moveClock reads a move and makes it. The scheduler resolves the target
// once any move in progress has finished, so that two "advance 3d" sent
// together move the clock 6 days.
func (c *Cloud) moveClock(r *http.Request) (clockapi.ClockMoved, error) {
	var move clockapi.ClockMove
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return clockapi.ClockMoved{}, badRequest{err}
	}
	if err := json.Unmarshal(body, &move); err != nil {
		return clockapi.ClockMoved{}, badRequest{fmt.Errorf(`want {"advance":"31d"} or {"to":"2027-02-28T00:00:00Z"}: %w`, err)}
	}
	to, err := target(move)
	if err != nil {
		return clockapi.ClockMoved{}, badRequest{err}
	}
	var rep schedule.Report
	if move.SkipFires {
		rep, err = c.scheduler.Jump(r.Context(), to)
	} else {
		rep, err = c.scheduler.Advance(r.Context(), to)
	}
	moved := clockapi.ClockMoved{From: rep.From.UTC(), To: rep.To.UTC(), Fired: rep.Fired, Failed: rep.Failed, TookMS: rep.Took.Milliseconds()}
	return moved, err
}

// target is where a move asks to go.
func target(move clockapi.ClockMove) (schedule.Target, error) {
	switch {
	case move.Advance != "" && move.To != "":
		return nil, errors.New(`give "advance" or "to", not both`)
	case move.Advance != "":
		d, err := schedule.ParseDuration(move.Advance)
		if err != nil {
			return nil, err
		}
		return schedule.By(d), nil
	case move.To != "":
		t, err := schedule.ParseTime(move.To)
		if err != nil {
			return nil, err
		}
		return schedule.At(t), nil
	}
	return nil, errors.New(`give "advance" (such as "31d") or "to" (such as "2027-02-28T00:00:00Z")`)
}
