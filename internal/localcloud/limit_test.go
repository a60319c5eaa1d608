package localcloud

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/matryer/is"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
)

// heldKumo stands for kumo: it counts the requests that reach it and
// holds each one until release is closed.
type heldKumo struct {
	reached atomic.Int32
	release chan struct{}
}

func (k *heldKumo) RoundTrip(r *http.Request) (*http.Response, error) {
	k.reached.Add(1)
	<-k.release
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"TableNames":[]}`)), Request: r}, nil
}

// A burst of DynamoDB requests reaches kumo a few at a time; the others
// queue in the front, and all are answered. Other requests are not held.
// (Before, all 200 reached kumo at once and the cloud grew to 24 GB.)
func TestFrontBoundsDynamoDBRequestsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		kumo := &heldKumo{release: make(chan struct{})}
		backend, _ := url.Parse("http://kumo.invalid")
		c := &Cloud{dynamoDB: make(gate, dynamoDBInFlight), proxy: httputil.NewSingleHostReverseProxy(backend), accounts: accounts.New(accounts.Options{})}
		c.proxy.Transport, c.proxy.ModifyResponse = kumo, c.observe
		const burst = 200
		answered := make(chan int, burst+1)
		send := func(target string) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
			req.Header.Set("X-Amz-Target", target)
			w := httptest.NewRecorder()
			c.serve(w, req)
			answered <- w.Code
		}
		for range burst {
			go send("DynamoDB_20120810.Query")
		}
		synctest.Wait()
		is.Equal(int(kumo.reached.Load()), dynamoDBInFlight) // the rest wait in the front
		go send("AmazonSQS.ListQueues")
		synctest.Wait()
		is.Equal(int(kumo.reached.Load()), dynamoDBInFlight+1) // another service is not held
		close(kumo.release)
		for range burst + 1 {
			is.Equal(<-answered, http.StatusOK) // every one answered
		}
		is.Equal(int(kumo.reached.Load()), burst+1)
	})
}
