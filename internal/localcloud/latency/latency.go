// Package latency is an HTTP proxy that adds a fixed latency to every AWS
// call on its way to a cloud, as a round trip to AWS would, and counts the
// calls by operation. bench-latency puts it between the function and the
// embedded cloud to time a run against the paging floor; any endpoint
// (LocalStack, moto) can sit behind it.
//
// It imports only the standard library.
package latency

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Proxy adds Latency to every request before passing it to Next, and
// counts the requests by operation.
type Proxy struct {
	Latency time.Duration
	Next    http.Handler
	// Sleep waits out the latency; nil is time.Sleep.
	Sleep func(time.Duration)

	mu    sync.Mutex
	calls map[string]int
}

// To is a proxy to the endpoint at target, keeping a connection open for
// every call in flight.
func To(target *url.URL, latency time.Duration) *Proxy {
	rp := httputil.NewSingleHostReverseProxy(target)
	// The default keeps two idle connections per host: redialling on every
	// call would cost more than the calls themselves.
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	return &Proxy{Latency: latency, Next: rp}
}

// Operation is the name a request is counted under: the AWS JSON
// protocol's X-Amz-Target (secretsmanager.ListSecrets,
// DynamoDB_20120810.BatchWriteItem), else its method and path.
func Operation(r *http.Request) string {
	if op := r.Header.Get("X-Amz-Target"); op != "" {
		return op
	}
	return r.Method + " " + r.URL.Path
}

// ServeHTTP reads the request, counts it, waits out the latency, then
// passes it on.
//
// The body is read whole first, so what goes on is in memory. Passed on as
// it came, it would be the server's body, which net/http closes once the
// proxy starts its answer (golang/go#15527); but the transport reads a body
// once more after its declared length, to check it is no longer. When the
// cloud answers before that last read, the read fails, the transport closes
// its connection to the cloud, and the answer is cut: the function got
// "unexpected EOF" on a 200 and the proxy logged "use of closed network
// connection" (golang/go#40747). The cloud answers a call only once its
// whole body is in anyway, and the function's are a few KB at most (a
// BatchWriteItem of 25 rows).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasPrefix(r.URL.Path, "/_localcloud/") {
		p.Next.ServeHTTP(w, r) // the function reading the cloud's clock: no AWS call
		return
	}
	p.mu.Lock()
	if p.calls == nil {
		p.calls = map[string]int{}
	}
	p.calls[Operation(r)]++
	p.mu.Unlock()
	sleep := p.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	sleep(p.Latency)
	p.Next.ServeHTTP(w, r)
}

// Reset returns the calls counted so far by operation and starts counting
// afresh.
func (p *Proxy) Reset() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	calls := p.calls
	if calls == nil {
		calls = map[string]int{}
	}
	p.calls = map[string]int{}
	return calls
}
