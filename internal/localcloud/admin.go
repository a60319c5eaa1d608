package localcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/schedule"
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
		case err != nil:
			writeJSON(w, http.StatusConflict, clockapi.Error{Error: err.Error()})
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

// badRequest marks an error the caller must fix (400), as opposed to one
// the clock refuses (409).
type badRequest struct{ error }

func (c *Cloud) moveClock(r *http.Request) (clockapi.ClockMoved, error) {
	var move clockapi.ClockMove
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return clockapi.ClockMoved{}, badRequest{err}
	}
	if err := json.Unmarshal(body, &move); err != nil {
		return clockapi.ClockMoved{}, badRequest{fmt.Errorf(`want {"advance":"31d"} or {"to":"2027-02-28T00:00:00Z"}: %w`, err)}
	}
	now := c.scheduler.Clock().Now()
	to, err := target(move, now)
	if err != nil {
		return clockapi.ClockMoved{}, badRequest{err}
	}
	if move.SkipFires {
		return clockapi.ClockMoved{From: now.UTC(), To: to.UTC()}, c.scheduler.Jump(to)
	}
	rep, err := c.scheduler.Advance(r.Context(), to)
	moved := clockapi.ClockMoved{From: rep.From.UTC(), To: rep.To.UTC(), Fired: rep.Fired, Failed: rep.Failed, TookMS: rep.Took.Milliseconds()}
	return moved, err
}

// target is the time a move asks for, from now.
func target(move clockapi.ClockMove, now time.Time) (time.Time, error) {
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
