package localcloud

import (
	"net/http"
	"runtime"
	"strings"
)

// kumo answers a DynamoDB Query by walking every item of the table and
// copying the matches into one answer, with no 1 MB page: a Query of one
// run's rows at 20,000 secrets builds tens of MB, several times over, and
// the front holds the whole answer to checksum it. Two hundred of them at
// once took the cloud to 24 GB. The front lets a few DynamoDB requests
// reach kumo at a time and queues the others, so its memory follows that
// bound instead of the number of clients; as DynamoDB would throttle, a
// burst is slower, not fatal.

// dynamoDBInFlight bounds the DynamoDB requests kumo serves at once:
// more than the cores only adds answers held in memory.
var dynamoDBInFlight = max(4, 2*runtime.GOMAXPROCS(0))

// gate is a counting semaphore for the DynamoDB requests to kumo.
type gate chan struct{}

// enter waits for room, and says false if the request is given up first.
func (g gate) enter(r *http.Request) bool {
	if !strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
		return true
	}
	select {
	case g <- struct{}{}:
		return true
	case <-r.Context().Done():
		return false
	}
}

// leave gives the room back after a request enter let through.
func (g gate) leave(r *http.Request) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
		<-g
	}
}
