package latency

import (
	"net/http"
	"net/http/httptest"
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
