package latency

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/matryer/is"
)

// Every call reaches the endpoint behind the proxy after one wait of the
// latency, and is counted under its operation until Reset.
func TestProxyCountsCalls(t *testing.T) {
	is := is.New(t)
	var mu sync.Mutex
	var reached []string
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, Operation(r))
		mu.Unlock()
		w.Write([]byte("{}"))
	}))
	defer cloud.Close()
	target, err := url.Parse(cloud.URL)
	is.NoErr(err)
	p := To(target, 20*time.Millisecond)
	var waits []time.Duration
	p.Sleep = func(d time.Duration) { waits = append(waits, d) } // requests are sent one by one
	srv := httptest.NewServer(p)
	defer srv.Close()

	call := func(method, target string) {
		req, err := http.NewRequest(method, srv.URL+"/", strings.NewReader("{}"))
		is.NoErr(err)
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultClient.Do(req)
		is.NoErr(err)
		resp.Body.Close()
		is.Equal(resp.StatusCode, http.StatusOK) // passed on to the cloud
	}
	call("POST", "secretsmanager.ListSecrets")
	call("POST", "secretsmanager.ListSecrets")
	call("POST", "DynamoDB_20120810.BatchWriteItem")
	call("GET", "")

	is.Equal(len(reached), 4)                                                                                                    // every call reached the cloud
	is.Equal(waits, []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}) // one wait each
	is.Equal(p.Reset(), map[string]int{
		"secretsmanager.ListSecrets":       2,
		"DynamoDB_20120810.BatchWriteItem": 1,
		"GET /":                            1, // no X-Amz-Target: method and path
	})
	is.Equal(p.Reset(), map[string]int{}) // counting starts afresh
}

// Without an injected Sleep the proxy waits the latency itself before the
// call goes on.
func TestProxyAddsLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		var reachedAfter time.Duration
		start := time.Now()
		p := &Proxy{Latency: 20 * time.Millisecond, Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reachedAfter = time.Since(start)
		})}
		p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil))
		is.Equal(reachedAfter, 20*time.Millisecond) // the call went on after exactly the latency
	})
}

// The local cloud's own admin API (the function reading the cloud clock)
// is not an AWS call: it passes at once and is not counted.
func TestProxyPassesTheAdminAPI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		reached := 0
		start := time.Now()
		p := &Proxy{Latency: 20 * time.Millisecond, Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached++
			is.Equal(time.Since(start), time.Duration(0)) // no latency added
		})}
		p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/_localcloud/clock", nil))
		is.Equal(reached, 1)                  // it reached the cloud
		is.Equal(p.Reset(), map[string]int{}) // and was not counted
	})
}

// An answer the cloud starts before the proxy's transport has finished
// writing the request upstream reaches the function whole. The order is
// the one bench-latency met now and then: the transport has sent the
// body's declared length and not yet made its last read of the body (to
// check it is no longer) when the cloud answers and the proxy starts its
// own answer. The function then got "unexpected EOF" on a 200, and the
// proxy logged "use of closed network connection".
func TestProxyPassesAnAnswerStartedBeforeTheRequestIsWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		const request = `{"Filters":"held-body"}`
		more := make(chan struct{}) // the rest of the cloud's answer may go
		cloudNet := newPipeNet()
		cloud := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = w.Write([]byte(`{"SecretList"`))
			_ = http.NewResponseController(w).Flush() // the answer begins
			<-more
			_, _ = w.Write([]byte(`:[]}`))
		})}
		go func() { _ = cloud.Serve(cloudNet) }()
		defer cloud.Close()

		p := To(&url.URL{Scheme: "http", Host: "cloud"}, 20*time.Millisecond)
		p.Sleep = func(time.Duration) {} // the latency plays no part here
		release := make(chan struct{})   // the transport may return from writing the body
		toCloud := p.Next.(*httputil.ReverseProxy).Transport.(*http.Transport)
		toCloud.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := cloudNet.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return heldConn{Conn: c, marker: []byte("held-body"), release: release}, nil
		}
		proxyNet := newPipeNet()
		front := &http.Server{Handler: p}
		go func() { _ = front.Serve(proxyNet) }()
		defer front.Close()
		defer toCloud.CloseIdleConnections()

		fn := &http.Client{Transport: &http.Transport{DialContext: proxyNet.DialContext}}
		defer fn.CloseIdleConnections()
		type answer struct {
			body string
			err  error
		}
		got := make(chan answer, 1)
		go func() {
			resp, err := fn.Post("http://proxy/", "application/x-amz-json-1.1", strings.NewReader(request))
			if err != nil {
				got <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			got <- answer{string(body), err}
		}()
		synctest.Wait() // the function has the answer's start; the body's write has not returned
		close(release)
		synctest.Wait() // the transport is done with the request
		close(more)
		a := <-got
		is.NoErr(a.err)                       // the answer was not cut
		is.Equal(a.body, `{"SecretList":[]}`) // all of it
	})
}

// heldConn passes every write on, then holds the one carrying marker until
// release is closed: the transport has sent that much and not returned.
type heldConn struct {
	net.Conn
	marker  []byte
	release <-chan struct{}
}

func (c heldConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if bytes.Contains(b, c.marker) {
		<-c.release
	}
	return n, err
}

// pipeNet is an in-memory network for synctest bubbles: DialContext hands
// one end of a net.Pipe to Accept.
type pipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (n *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case n.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.done:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.done:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Close() error {
	n.once.Do(func() { close(n.done) })
	return nil
}

func (n *pipeNet) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
