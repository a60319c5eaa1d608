package hubimport

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/localsecurityhub"
)

// fakeHub is a BatchImporter whose answer a test decides.
type fakeHub struct {
	BatchImportFindingsFn func(fs []findings.SecurityFinding) (BatchOutput, error)
	calls                 [][]string  // the Ids of each call
	at                    []time.Time // when each call was made
}

func (f *fakeHub) BatchImportFindings(_ context.Context, fs []findings.SecurityFinding) (BatchOutput, error) {
	var ids []string
	for _, x := range fs {
		ids = append(ids, x.Id)
	}
	f.calls = append(f.calls, ids)
	f.at = append(f.at, time.Now())
	return f.BatchImportFindingsFn(fs)
}

// importAll is a hub that imports every finding.
func importAll(fs []findings.SecurityFinding) (BatchOutput, error) {
	return BatchOutput{SuccessCount: len(fs)}, nil
}

// failing is a hub that fails the findings whose Ids are in codes, with
// those error codes, and imports the others.
func failing(codes map[string]string) func(fs []findings.SecurityFinding) (BatchOutput, error) {
	return func(fs []findings.SecurityFinding) (BatchOutput, error) {
		var out BatchOutput
		for _, f := range fs {
			if code, ok := codes[f.Id]; ok {
				out.FailedFindings = append(out.FailedFindings, FailedFinding{Id: f.Id, ErrorCode: code, ErrorMessage: "it failed"})
				continue
			}
			out.SuccessCount++
		}
		out.FailedCount = len(out.FailedFindings)
		return out, nil
	}
}

func some(n int) []findings.SecurityFinding {
	fs := make([]findings.SecurityFinding, n)
	for i := range fs {
		fs[i].Id = fmt.Sprintf("f%05d", i)
	}
	return fs
}

func TestImportSendsBatchesOf100(t *testing.T) {
	is := is.New(t)
	hub := &fakeHub{BatchImportFindingsFn: importAll}
	im := &Importer{Client: hub}
	res, err := im.Import(context.Background(), some(250))
	is.NoErr(err)
	is.Equal(res, Result{Imported: 250, Failed: 0, Calls: 3})
	is.Equal([]int{len(hub.calls[0]), len(hub.calls[1]), len(hub.calls[2])}, []int{100, 100, 50})
	is.Equal(hub.calls[2][49], "f00249") // every finding, once, in order

	res, err = im.Import(context.Background(), nil)
	is.NoErr(err)
	is.Equal(res, Result{}) // nothing to send: no call
}

// The quota: the first 30 calls go at once, then 10 a second; 100 calls
// (10,000 findings) take 7 seconds of (fake) time, never more than 30 in
// the first instant nor 10 in any later 100 ms step.
func TestImportKeepsTheQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		hub := &fakeHub{BatchImportFindingsFn: importAll}
		im := &Importer{Client: hub}
		start := time.Now()
		res, err := im.Import(context.Background(), some(100*BatchSize))
		is.NoErr(err)
		is.Equal(res.Calls, 100)
		for i, at := range hub.at {
			due := time.Duration(max(0, i-Burst+1)) * time.Second / Rate
			is.True(at.Sub(start) >= due)                 // never ahead of the quota
			is.True(at.Sub(start) < due+time.Millisecond) // nor needlessly late
		}
		is.Equal(time.Since(start), 7*time.Second) // (100-30) calls at 10 a second

		// Idle for a while, the bucket refills to the burst, not beyond.
		time.Sleep(time.Minute)
		hub.at = nil
		start = time.Now()
		_, err = im.Import(context.Background(), some(31*BatchSize))
		is.NoErr(err)
		is.Equal(hub.at[29].Sub(start), time.Duration(0))     // 30 at once
		is.Equal(hub.at[30].Sub(start), 100*time.Millisecond) // the 31st waits for a token
	})
}

// A context that ends while waiting for the quota stops the import; what
// was not sent counts as failed.
func TestImportStopsWhenTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := is.New(t)
		hub := &fakeHub{BatchImportFindingsFn: importAll}
		im := &Importer{Client: hub}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		res, err := im.Import(ctx, some(100*BatchSize))
		is.True(errors.Is(err, context.DeadlineExceeded))
		is.Equal(res.Calls, Burst+5) // the burst, then 5 in half a second
		is.Equal(res.Imported, res.Calls*BatchSize)
		is.Equal(res.Failed, 100*BatchSize-res.Imported)
	})
}

func TestImportRetriesFailedFindings(t *testing.T) {
	is := is.New(t)
	first := true
	hub := &fakeHub{}
	hub.BatchImportFindingsFn = func(fs []findings.SecurityFinding) (BatchOutput, error) {
		if first {
			first = false
			return failing(map[string]string{"f00003": "InternalException", "f00007": "ThrottlingException"})(fs)
		}
		return importAll(fs)
	}
	res, err := (&Importer{Client: hub}).Import(context.Background(), some(10))
	is.NoErr(err)
	is.Equal(res, Result{Imported: 10, Failed: 0, Calls: 2})
	is.Equal(hub.calls[1], []string{"f00003", "f00007"}) // only the failed ones, again
}

func TestImportGivesUpAfterTheRetries(t *testing.T) {
	is := is.New(t)
	hub := &fakeHub{BatchImportFindingsFn: failing(map[string]string{"f00001": "InternalException", "f00002": "InvalidInput"})}
	res, err := (&Importer{Client: hub}).Import(context.Background(), some(5))
	is.Equal(res, Result{Imported: 3, Failed: 2, Calls: 1 + DefaultRetries})
	for _, call := range hub.calls[1:] {
		is.Equal(call, []string{"f00001"}) // an invalid finding is not sent again
	}
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "2 of 5 not imported")) // the counts
	is.True(strings.Contains(err.Error(), "f00001: InternalException: it failed"))

	hub = &fakeHub{BatchImportFindingsFn: failing(map[string]string{"f00001": "InternalException"})}
	res, _ = (&Importer{Client: hub, Retries: -1}).Import(context.Background(), some(5))
	is.Equal(res, Result{Imported: 4, Failed: 1, Calls: 1}) // retries off
}

// A call that fails stops the import: what it and later batches held
// counts as failed, and the error wraps the call's.
func TestImportStopsOnAFailedCall(t *testing.T) {
	is := is.New(t)
	denied := errors.New("AccessDeniedException: not authorized to perform securityhub:BatchImportFindings")
	hub := &fakeHub{}
	hub.BatchImportFindingsFn = func(fs []findings.SecurityFinding) (BatchOutput, error) {
		if len(hub.calls) == 2 {
			return BatchOutput{}, denied
		}
		return importAll(fs)
	}
	res, err := (&Importer{Client: hub}).Import(context.Background(), some(350))
	is.Equal(res, Result{Imported: 100, Failed: 250, Calls: 2})
	is.True(errors.Is(err, denied))
	is.True(strings.Contains(err.Error(), "250 of 350 not imported"))
}

// Through the Transport and into the embedded cloud's Security Hub, every
// finding of three batches arrives, as the real SDK client reads them back.
func TestImportIntoTheLocalSecurityHub(t *testing.T) {
	is := is.New(t)
	const account = "123456789012"
	hub := localsecurityhub.New(time.Now, "us-east-1", account)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	client := securityhub.New(securityhub.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	var fs []findings.SecurityFinding
	for i := range 250 {
		name := fmt.Sprintf("s%03d", i)
		s, err := findings.SecretOf(name, "arn:aws:secretsmanager:us-east-1:"+account+":secret:"+name+"-AbCdEf")
		is.NoErr(err)
		s.Flagged, s.MaxAgeDays, s.CheckedAt = i%2 == 0, 30, time.Date(2026, 12, 27, 11, 0, 0, 0, time.UTC)
		fs = append(fs, findings.ASFF(s))
	}
	tr := &Transport{HTTP: srv.Client(), Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		Region: "us-east-1", Endpoint: srv.URL}
	res, err := (&Importer{Client: tr}).Import(context.Background(), fs)
	is.NoErr(err)
	is.Equal(res, Result{Imported: 250, Calls: 3})
	var got []string
	p := securityhub.NewGetFindingsPaginator(client, &securityhub.GetFindingsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		is.NoErr(err)
		for _, f := range page.Findings {
			got = append(got, aws.ToString(f.Id))
		}
	}
	is.Equal(len(got), 250)
	is.True(slices.IsSorted(got))
}
