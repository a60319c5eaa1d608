// Command sqsbatch is a test function for SQS event source mappings. It
// prints one line per batch and per record, reports as failed (with
// ReportBatchItemFailures) the records whose body contains "fail", and
// fails the whole invocation when a body contains "crash".
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	fmt.Printf("batch %d\n", len(ev.Records))
	for _, r := range ev.Records {
		fmt.Printf("got %s receive=%s source=%s region=%s\n", r.Body, r.Attributes["ApproximateReceiveCount"], r.EventSourceARN, r.AWSRegion)
		switch {
		case strings.Contains(r.Body, "crash"):
			return resp, errors.New("crash")
		case strings.Contains(r.Body, "fail"):
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return resp, nil
}

func main() { lambda.Start(handle) }
