package dashboard

import (
	"context"
	"fmt"
	"html"
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
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// rowsOf are the rows of a section's table body, each as its cells' text.
func rowsOf(fragment string) [][]string {
	var rows [][]string
	_, body, _ := strings.Cut(fragment, "<tbody>")
	for _, tr := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(body, -1) {
		var cells []string
		for _, td := range regexp.MustCompile(`(?s)<t[dh][^>]*>(.*?)</t[dh]>`).FindAllStringSubmatch(tr[1], -1) {
			cells = append(cells, html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(td[1], "")))
		}
		rows = append(rows, cells)
	}
	return rows
}

// hrefs are the links of an HTML fragment, as a browser reads them.
func hrefs(fragment string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(fragment, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// An organization hub's first page is the organization's: how many
// accounts report, every account with its counts and a link to its page,
// and the accounts not reporting with why, first.
func TestOrganizationPage(t *testing.T) {
	is := is.New(t)
	h := hubServer().Handler()
	w := get(h, "/")
	is.Equal(w.Code, http.StatusOK)
	body := w.Body.String()
	is.True(strings.Contains(body, "<h1>Secrets rotation, 2026Q4: the organization</h1>"))
	is.True(strings.Contains(body, `<span class="label">Accounts reporting</span><span class="value">2 of 3</span>`))
	is.True(strings.Contains(body, `<span class="label">Not reporting</span><span class="value">1</span>`))
	is.True(!strings.Contains(body, `id="needs-rotation"`)) // the accounts' secrets are on their pages

	missing := rowsOf(section(body, "not-reporting"))
	is.Equal(len(missing), 1)
	is.Equal(missing[0][0], denied)
	is.True(strings.HasPrefix(missing[0][2], "eu-west-1, us-east-1: assume arn:aws:iam::000000000000:role/rotation-audit-reader: AccessDenied")) // the reason, without the SDK's details

	accounts := rowsOf(section(body, "accounts"))
	is.Equal(len(accounts), 3)
	is.Equal(accounts[0][0], denied) // not reporting first
	is.True(strings.HasPrefix(accounts[0][2], "not reporting"))
	is.Equal(accounts[1], []string{member1, "eu-west-1, us-east-1", "reporting", "2", "1"})
	is.Equal(accounts[2], []string{member2, "eu-west-1, us-east-1", "reporting", "2", "1"})
	links := hrefs(section(body, "accounts"))
	is.Equal(links, []string{"/?account=" + denied + "&quarter=2026Q4", "/?account=" + member1 + "&quarter=2026Q4", "/?account=" + member2 + "&quarter=2026Q4"})
	for _, href := range append(links, hrefs(section(body, "downloads"))...) {
		is.Equal(get(h, href).Code, http.StatusOK) // every link answers
	}
}

// One account's page is today's first page limited to its secrets, each
// with its account and region and linked by its ARN: db of one account
// is not db of the other.
func TestAccountPage(t *testing.T) {
	is := is.New(t)
	h := hubServer().Handler()
	pages := map[string]string{}
	for _, acct := range []string{member1, member2} {
		w := get(h, "/?account="+acct)
		is.Equal(w.Code, http.StatusOK)
		body := w.Body.String()
		is.True(strings.Contains(body, `<a href="/?quarter=2026Q4">Organization</a> › account `+acct)) // the way back
		needs := rowsOf(section(body, "needs-rotation"))
		is.Equal(len(needs), 1)
		is.Equal(needs[0][:3], []string{"db", acct, "us-east-1"}) // its db, with where it is
		links := nameLinks(section(body, "needs-rotation"))
		is.Equal(links["db"], "/secret?arn="+strings.ReplaceAll(strings.ReplaceAll(arnOf(acct, "us-east-1", "db"), ":", "%3A"), "/", "%2F")+"&quarter=2026Q4")
		pages[acct] = links["db"]
		grid := section(body, "grid")
		is.Equal(len(gridNames(body)), 2)                                                             // its two secrets, not the other account's
		is.True(strings.Contains(grid, acct+" · us-east-1"))                                          // each with its account and region
		is.True(!strings.Contains(body, map[string]string{member1: member2, member2: member1}[acct])) // nothing of the other account
		is.True(strings.Contains(body, `<input type="hidden" name="account" value="`+acct+`">`))      // the filter stays in the account
	}
	is.True(pages[member1] != pages[member2]) // one name, two secrets, two pages
	for acct, href := range pages {
		body := get(h, href).Body.String()
		is.Equal(secretHeading(body), "db")
		is.True(strings.Contains(body, "<dt>Account</dt><dd>"+acct+"</dd>"))
		is.True(strings.Contains(body, "<dt>ARN</dt><dd>"+arnOf(acct, "us-east-1", "db")+"</dd>"))
		is.Equal(strings.Count(section(body, "rows"), `<td class="mono">run-`), len(orgRuns)) // its rows only
	}

	// The account not reporting says so, with why, and claims no all-clear.
	body := get(h, "/?account="+denied).Body.String()
	is.True(strings.Contains(body, `id="account-not-reporting"`))
	is.True(strings.Contains(body, "AccessDenied"))
	is.True(!strings.Contains(body, "No secret needs rotation in the last complete run."))

	// Filtered, the account's page keeps to the account.
	body = get(h, "/?account="+member1+"&q=shared").Body.String()
	is.Equal(gridNames(body), []string{"shared-key"})
	is.True(strings.Contains(body, `href="/?account=`+member1+`&amp;quarter=2026Q4">Show every secret</a>`))
}

// ?account= and ?arn= are checked: a plain 400 or 404 page naming the
// problem.
func TestOrganizationInput(t *testing.T) {
	h := hubServer().Handler()
	tests := []struct {
		target   string
		status   int
		contains string
	}{
		{"/?account=1234", 400, "want 12 digits, such as 111111111111"},
		{"/?account=11111111111x", 400, "want 12 digits"},
		{"/?account=333333333333", 404, "did not audit account 333333333333"},
		{"/report.csv?account=333333333333", 404, "did not audit account 333333333333"},
		{"/report.csv?account=12", 400, "want 12 digits"},
		{"/history.csv?account=333333333333", 404, "no secret of account 333333333333"},
		{"/secret?arn=db", 400, "want a secret&#39;s ARN"},
		{"/secret?arn=arn:aws:secretsmanager:us-east-1:1111:secret:db", 400, "want a secret&#39;s ARN"},
		{"/secret?arn=" + arnOf(member1, "us-east-1", "nope"), 404, "no row for the secret " + arnOf(member1, "us-east-1", "nope")},
		{"/?apage=0", 400, "such as ?apage=2"},
		{"/?npage=x", 400, "such as ?npage=2"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			is := is.New(t)
			w := get(h, tt.target)
			is.Equal(w.Code, tt.status)
			is.Equal(w.Header().Get("Content-Type"), "text/html; charset=utf-8")
			is.True(strings.Contains(w.Body.String(), tt.contains)) // the page names the problem
		})
	}
	// A single-account stack has no accounts.
	is := is.New(t)
	w := get(server(nil).Handler(), "/?account="+member1)
	is.Equal(w.Code, http.StatusBadRequest)
	is.True(strings.Contains(w.Body.String(), "is a single-account run; ?account= is for an organization hub"))
	is.Equal(get(server(nil).Handler(), "/report.csv?account="+member1).Code, http.StatusBadRequest)
}

// The downloads of an organization run hold every account, and with
// ?account= one account's.
func TestOrganizationDownloads(t *testing.T) {
	is := is.New(t)
	h := hubServer().Handler()
	all := get(h, "/report.csv?all=1").Body.String()
	is.True(strings.Contains(all, ",account_id,region,unit_state,unit_error"))
	is.Equal(strings.Count(all, "\ndb,"), 2)                          // db of both accounts
	is.True(strings.Contains(all, denied+",eu-west-1,failed,assume")) // the account not reporting, with why
	one := get(h, "/report.csv?account="+member2+"&all=1")
	is.Equal(one.Header().Get("Content-Disposition"), `attachment; filename="hub-report-`+runID(orgRuns[1])+`-`+member2+`-all.csv"`)
	is.True(strings.Contains(one.Body.String(), arnOf(member2, "us-east-1", "db")))
	is.True(!strings.Contains(one.Body.String(), member1))
	history := get(h, "/history.csv?account="+member1).Body.String()
	is.Equal(strings.Count(strings.TrimSpace(history), "\n"), 2) // its db and shared-key
	is.True(!strings.Contains(history, member2))
	get(h, "/?account="+member2)
	whole := get(h, "/history.csv").Body.String()
	is.Equal(strings.Count(strings.TrimSpace(whole), "\n"), len(orgSecrets))
	for _, s := range orgSecrets {
		is.True(strings.Contains(whole, ","+arnOf(s.account, s.region, s.name)+"\n")) // the accounts' pages left the secrets they share whole
	}
}

// bigOrg answers the Queries of the organization's page for one run of
// 1,000 accounts in four regions, a quarter of them not reporting, and
// counts the Queries of the units table.
type bigOrg struct {
	entry audit.RunEntry
	units []map[string]dbtypes.AttributeValue
	reads atomic.Int32
}

func newBigOrg(at time.Time) (*bigOrg, error) {
	b := &bigOrg{entry: audit.RunEntry{Month: tables.MonthOf(at), RunID: runID(at), CheckedAt: at.Format(time.RFC3339),
		ScheduledTime: at.Format(time.RFC3339), Complete: true, CompleteKey: tables.CompleteValue, MaxAgeDays: 30,
		UnitsExpected: 4000, Accounts: 1000, Regions: "us-east-1,us-west-2,eu-west-1,ap-south-1"}}
	for i := range 1000 {
		acct := fmt.Sprintf("%012d", 100000000000+i)
		for _, region := range strings.Split(b.entry.Regions, ",") {
			u := report.Unit{Unit: tables.UnitOf(acct, region), AccountID: acct, Region: region, State: tables.UnitDone, Checked: 50, Flagged: i % 7}
			if i%4 == 3 {
				u.State, u.Error, u.Checked, u.Flagged = tables.UnitFailed, deniedError, 0, 0
			}
			item, err := attributevalue.MarshalMap(u)
			if err != nil {
				return nil, err
			}
			b.units = append(b.units, item)
		}
	}
	return b, nil
}

func (b *bigOrg) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	switch aws.ToString(in.TableName) {
	case "big-units":
		b.reads.Add(1)
		return &dynamodb.QueryOutput{Items: b.units}, nil
	case "big-runs":
		for _, v := range in.ExpressionAttributeValues {
			if s, ok := v.(*dbtypes.AttributeValueMemberS); ok && (s.Value == tables.CompleteValue || s.Value == b.entry.Month) {
				item, err := attributevalue.MarshalMap(b.entry)
				return &dynamodb.QueryOutput{Items: []map[string]dbtypes.AttributeValue{item}}, err
			}
		}
	}
	return &dynamodb.QueryOutput{}, nil
}

// The organization's page at 1,000 accounts stays small: a hundred
// accounts a page, those not reporting first and paged too, read once
// for every request until the next run.
func TestOrganizationPageIsBounded(t *testing.T) {
	is := is.New(t)
	at := start.Add(12 * time.Hour)
	db, err := newBigOrg(at)
	is.NoErr(err)
	s := &Server{Store: &report.Store{DB: db, Table: "big-audit", RunsTable: "big-runs", OrgTable: "big-org-audit", UnitsTable: "big-units"},
		Stack: "big", Schedule: report.Schedule{Expression: "rate(1 day)"}, Now: func() time.Time { return at.Add(time.Hour) }}
	h := s.Handler()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { get(h, "/") })
	}
	wg.Wait()
	w := &writes{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	is.Equal(w.Code, http.StatusOK)
	is.Equal(int(db.reads.Load()), 1) // the units, read once for every request
	body := w.Body.String()
	is.True(w.Body.Len() < 200<<10) // a page of a hundred accounts and a hundred not reporting is under 200 kB
	is.True(w.n > 1)                // streamed
	is.True(strings.Contains(body, `<span class="value">750 of 1000</span>`))

	missing := rowsOf(section(body, "not-reporting"))
	is.Equal(len(missing), pageSize)
	is.True(strings.Contains(section(body, "not-reporting"), "accounts not reporting 1 to 100 of 250 (page 1 of 3)"))
	accounts := rowsOf(section(body, "accounts"))
	is.Equal(len(accounts), pageSize)
	is.True(strings.Contains(section(body, "accounts"), "accounts 1 to 100 of 1000 (page 1 of 10)"))
	for _, row := range accounts {
		is.True(strings.HasPrefix(row[2], "not reporting")) // the 250 not reporting come first
	}
	is.True(strings.Contains(section(body, "accounts"), `href="/?quarter=2026Q4&amp;apage=2" rel="next"`))

	third := get(h, "/?apage=3&npage=3").Body.String()
	accounts = rowsOf(section(third, "accounts"))
	is.True(strings.HasPrefix(accounts[49][2], "not reporting")) // the last of the 250
	is.Equal(accounts[50][2], "reporting")
	is.Equal(accounts[50][4], "24") // then the most flagged (4 regions of 6)
	is.Equal(len(rowsOf(section(third, "not-reporting"))), 50)
	is.Equal(int(db.reads.Load()), 1) // still read once
}
