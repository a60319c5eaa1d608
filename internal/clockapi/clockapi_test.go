package clockapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/matryer/is"
)

// The errors say in one line what went wrong, and their kind lets a
// command choose its exit status: nothing there, a refused request, or a
// failure.
func TestErrorKinds(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	down := "http://" + ln.Addr().String()
	ln.Close()
	_, err = ReadClock(ctx, down)
	is.True(errors.Is(err, ErrUnreachable))
	is.Equal(err.Error(), "cannot reach the local cloud at "+down+": is `make local-up` running?")
	var op *net.OpError
	is.True(errors.As(err, &op)) // the cause is kept for errors.As
	is.True(errors.Is(Reach(ctx, down), ErrUnreachable))

	// /plain is not an embedded cloud; /a refuses the move; /b fails it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a" + ClockPath:
			w.WriteHeader(http.StatusConflict)
		case "/b" + ClockPath:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"error":"the cloud clock only moves forward: ..."}`))
	}))
	defer srv.Close()
	is.NoErr(Reach(ctx, srv.URL+"/plain")) // any answer means something is there

	_, err = MoveClock(ctx, srv.URL+"/plain", ClockMove{Advance: "1d"})
	is.True(errors.Is(err, ErrRefused)) // not an embedded cloud: the caller's to fix
	is.Equal(err.Error(), srv.URL+"/plain is not this tool's embedded cloud: it has no clock to move (LocalEmu and moto run on real time)")

	_, err = MoveClock(ctx, srv.URL+"/a", ClockMove{To: "2020-01-01"})
	is.True(errors.Is(err, ErrRefused)) // 4xx: refused
	is.Equal(err.Error(), "the cloud clock only moves forward: ...")

	_, err = MoveClock(ctx, srv.URL+"/b", ClockMove{Advance: "1d"})
	is.True(err != nil)
	is.True(!errors.Is(err, ErrRefused) && !errors.Is(err, ErrUnreachable)) // 5xx: a failure
}
