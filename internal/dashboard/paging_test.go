package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// gridNames are the secrets of the page's grid, in order.
func gridNames(body string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`<th scope="row" class="name"><a href="[^"]*">([^<]*)</a>`).FindAllStringSubmatch(section(body, "grid"), -1) {
		names = append(names, m[1])
	}
	return names
}

// The grid and the list of secrets needing rotation show a hundred
// secrets a page, flagged first, with links to the pages around; a name
// filter keeps the matching ones, pages and all. (Before, the page held
// every secret: 120 MB of HTML at 10,000 secrets.)
func TestIndexPagesAndFilters(t *testing.T) {
	is := is.New(t)
	h := manyServer().Handler()
	body := get(h, "/").Body.String()
	first := gridNames(body)
	is.Equal(len(first), pageSize)
	grid := section(body, "grid")
	is.True(regexp.MustCompile(`secrets 1 to 100 of 2\d\d \(page 1 of 3\)`).MatchString(grid))
	is.True(strings.Contains(grid, `href="/?page=2&amp;quarter=2026Q4" rel="next"`))
	is.True(!strings.Contains(grid, `rel="prev"`))
	needs := section(body, "needs-rotation")
	is.Equal(strings.Count(needs, `<td class="name">`), pageSize) // most of these secrets are stale
	is.True(strings.Contains(needs, `rel="next"`))

	third := get(h, "/?page=3").Body.String()
	last := gridNames(third)
	is.True(len(last) > 0 && len(last) <= pageSize)
	is.True(strings.Contains(section(third, "grid"), `rel="prev"`))
	is.True(!strings.Contains(section(third, "grid"), `rel="next"`))
	for _, name := range last {
		is.True(!strings.Contains(section(body, "grid"), ">"+name+"<")) // no secret on two pages
	}
	is.Equal(gridNames(get(h, "/?page=99").Body.String()), last) // past the end: the last page

	filtered := get(h, "/?q=READ-00012").Body.String()
	names := gridNames(filtered)
	is.Equal(len(names), 10) // bench-read-000120 to bench-read-000129, in any case
	for _, name := range names {
		is.True(strings.HasPrefix(name, "bench-read-00012"))
	}
	is.True(strings.Contains(filtered, `value="READ-00012"`))           // the form keeps the filter
	is.True(!strings.Contains(section(filtered, "grid"), `rel="next"`)) // one page
	is.True(strings.Contains(get(h, "/?q=no-such-name").Body.String(), "No secret whose name holds “no-such-name” was audited in this period."))

	w := get(h, "/?page=0")
	is.Equal(w.Code, http.StatusBadRequest)
	is.True(strings.Contains(w.Body.String(), "want a page number from 1, such as ?page=2"))
	is.Equal(get(h, "/?fpage=x").Code, http.StatusBadRequest)
}

// writes counts the writes of a page to its client.
type writes struct {
	*httptest.ResponseRecorder
	n int
}

func (w *writes) Write(p []byte) (int, error) {
	w.n++
	return w.ResponseRecorder.Write(p)
}

// The page is written as it renders, not held whole first.
func TestIndexIsStreamed(t *testing.T) {
	is := is.New(t)
	w := &writes{ResponseRecorder: httptest.NewRecorder()}
	manyServer().Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	is.Equal(w.Code, http.StatusOK)
	is.True(w.Body.Len() < 1<<20) // a page of a hundred secrets is under 1 MB
	is.True(w.n >= w.Body.Len()/(32<<10))
	is.True(w.n > 1) // in pieces of at most 32 kB
}

// countingDB counts the Queries of the change index and of the run index.
type countingDB struct {
	report.Querier
	changes, runRows atomic.Int32
}

func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	switch aws.ToString(in.IndexName) {
	case tables.ChangeIndex:
		c.changes.Add(1)
	case tables.RunIndex:
		c.runRows.Add(1)
	}
	return c.Querier.Query(ctx, in, optFns...)
}

// Concurrent requests share one reading of the secrets and of the latest
// run's rows, and later requests reuse it until a run lands.
func TestConcurrentRequestsShareOneReading(t *testing.T) {
	is := is.New(t)
	db := &countingDB{Querier: env.clients.DynamoDB}
	s := manyServer()
	s.Store.DB = db
	h := s.Handler()
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Go(func() { codes <- get(h, "/").Code })
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		is.Equal(code, http.StatusOK)
	}
	is.Equal(int(db.changes.Load()), 1) // October's changes, read once
	is.Equal(int(db.runRows.Load()), 1) // the latest run's rows, for those flagged (no run is before the period)
	get(h, "/?page=2&q=bench")
	is.Equal(int(db.changes.Load()), 1) // kept

	s.Now = func() time.Time { return manyNow.AddDate(0, 0, 1) } // the next day's run lands
	is.NoErr(nextRun(context.Background(), "many", manyNow.AddDate(0, 0, 1).Truncate(24*time.Hour)))
	is.Equal(get(h, "/").Code, http.StatusOK)
	is.Equal(int(db.changes.Load()), 2) // read again, with the new run
}

// nextRun logs a complete run of a stack at that time that changed
// nothing: no row of it is in the change index.
func nextRun(ctx context.Context, stack string, at time.Time) error {
	entry := struct {
		audit.RunEntry
		New int `dynamodbav:"new"`
	}{RunEntry: audit.RunEntry{Month: tables.MonthOf(at), RunID: tables.NewRunID(at), CheckedAt: at.Format(time.RFC3339),
		Complete: true, CompleteKey: tables.CompleteValue, ScheduledTime: at.Format(time.RFC3339), MaxAgeDays: 30}}
	item, err := attributevalue.MarshalMap(entry)
	if err != nil {
		return err
	}
	_, err = env.clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.RunsTable(stack)), Item: item})
	return err
}

// The stylesheet sizes the grid's cells as the grid lays them out: the
// cells do not repeat it.
func TestStylesheetSizesTheCells(t *testing.T) {
	is := is.New(t)
	css := get(manyServer().Handler(), "/style.css").Body.String()
	is.True(strings.Contains(css, fmt.Sprintf("rect.cell { width: %dpx; height: %dpx; }", cellW, cellH)))
	is.True(cellW < cellStep) // a gap between days
	body := get(manyServer().Handler(), "/").Body.String()
	is.True(strings.Contains(section(body, "grid"), `<rect class="cell st-flagged" x="0"><title>`))
}
