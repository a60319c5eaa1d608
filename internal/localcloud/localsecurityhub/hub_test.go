package localsecurityhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

const account = "123456789012"

var start = time.Date(2026, 12, 27, 11, 0, 0, 0, time.UTC)

// fixture is a hub behind a real HTTP server and a real SDK client for it.
type fixture struct {
	hub    *Hub
	url    string
	client *securityhub.Client
	ctx    context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	hub := New(func() time.Time { return start }, "us-east-1", account)
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	return &fixture{hub: hub, url: srv.URL, client: clientFor(srv.URL, "us-east-1"), ctx: context.Background()}
}

// clientFor is a Security Hub client of the hub at url, with the SDK's
// default retries: under load a response can meet net/http's known "use
// of closed network connection" race (aws/aws-sdk-go-v2#1825, #2737),
// which real clients retry; with retries off, go test -race failed on it.
func clientFor(url, region string) *securityhub.Client {
	return securityhub.New(securityhub.Options{Region: region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// secretFinding is the product's finding for a secret of the account, at a run.
func secretFinding(name string, flagged bool, at time.Time) types.AwsSecurityFinding {
	s, err := findings.SecretOf(name, "arn:aws:secretsmanager:us-east-1:"+account+":secret:"+name+"-AbCdEf")
	if err != nil {
		panic(err)
	}
	s.Flagged, s.MaxAgeDays, s.CheckedAt = flagged, 30, at
	return sdkFinding(findings.ASFF(s))
}

// sdkFinding is the product's finding as the SDK's type, which reads its
// JSON field for field.
func sdkFinding(f findings.SecurityFinding) types.AwsSecurityFinding {
	data, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	var out types.AwsSecurityFinding
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	return out
}

func (f *fixture) importFindings(t *testing.T, fs ...types.AwsSecurityFinding) *securityhub.BatchImportFindingsOutput {
	t.Helper()
	out, err := f.client.BatchImportFindings(f.ctx, &securityhub.BatchImportFindingsInput{Findings: fs})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// get lists every finding matching the filters, page by page.
func (f *fixture) get(t *testing.T, filters *types.AwsSecurityFindingFilters) []types.AwsSecurityFinding {
	t.Helper()
	var all []types.AwsSecurityFinding
	p := securityhub.NewGetFindingsPaginator(f.client, &securityhub.GetFindingsInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Findings...)
	}
	return all
}

func equals(values ...string) []types.StringFilter {
	var fs []types.StringFilter
	for _, v := range values {
		fs = append(fs, types.StringFilter{Value: aws.String(v), Comparison: types.StringFilterComparisonEquals})
	}
	return fs
}

func ids(fs []types.AwsSecurityFinding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.Id))
	}
	return out
}

func TestImportThenGetWithFilters(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	out := f.importFindings(t, secretFinding("a", true, start), secretFinding("b", true, start), secretFinding("c", false, start))
	is.Equal(aws.ToInt32(out.SuccessCount), int32(3))
	is.Equal(aws.ToInt32(out.FailedCount), int32(0))

	product := findings.ProductARN("aws", "us-east-1", account)
	all := f.get(t, &types.AwsSecurityFindingFilters{ProductArn: equals(product), RecordState: equals("ACTIVE")})
	is.Equal(len(all), 3)
	failed := f.get(t, &types.AwsSecurityFindingFilters{ComplianceStatus: equals("FAILED")})
	is.Equal(ids(failed), []string{findings.ID("arn:aws:secretsmanager:us-east-1:" + account + ":secret:a-AbCdEf"), findings.ID("arn:aws:secretsmanager:us-east-1:" + account + ":secret:b-AbCdEf")})
	one := f.get(t, &types.AwsSecurityFindingFilters{Id: equals(aws.ToString(all[2].Id))})
	is.Equal(len(one), 1)
	is.Equal(one[0].Compliance.Status, types.ComplianceStatusPassed)
	either := f.get(t, &types.AwsSecurityFindingFilters{Id: equals(aws.ToString(all[0].Id), aws.ToString(all[2].Id))})
	is.Equal(len(either), 2) // values of one attribute: any of them
	none := f.get(t, &types.AwsSecurityFindingFilters{ComplianceStatus: equals("FAILED"), Id: equals(aws.ToString(all[2].Id))})
	is.Equal(len(none), 0) // attributes: all of them
	notFailed := f.get(t, &types.AwsSecurityFindingFilters{ComplianceStatus: []types.StringFilter{{Value: aws.String("FAILED"), Comparison: types.StringFilterComparisonNotEquals}}})
	is.Equal(len(notFailed), 1)
	is.Equal(len(f.get(t, &types.AwsSecurityFindingFilters{ProductArn: equals("arn:aws:securityhub:us-east-1:" + account + ":product/other/x")})), 0)

	// What Security Hub adds on creation.
	c := one[0]
	is.Equal(c.Workflow.Status, types.WorkflowStatusNew)
	is.Equal(c.Severity.Label, types.SeverityLabelInformational) // from FindingProviderFields
	is.Equal(c.Types, []string{findings.FindingType})
	is.Equal(aws.ToString(c.ProcessedAt), "2026-12-27T11:00:00.000Z") // on the cloud clock
	is.Equal(aws.ToString(c.Resources[0].Details.AwsSecretsManagerSecret.Name), "c")
}

// A re-import updates a finding only with a newer UpdatedAt; CreatedAt and
// the workflow stay as created.
func TestReimportNeedsANewerUpdatedAt(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.importFindings(t, secretFinding("a", true, start))
	id := aws.ToString(secretFinding("a", true, start).Id)
	get := func() types.AwsSecurityFinding {
		got := f.get(t, &types.AwsSecurityFindingFilters{Id: equals(id)})
		is.Equal(len(got), 1)
		return got[0]
	}

	same := secretFinding("a", false, start) // resolved, but not newer
	out := f.importFindings(t, same)
	is.Equal(aws.ToInt32(out.SuccessCount), int32(1))               // counted as a success...
	is.Equal(get().Compliance.Status, types.ComplianceStatusFailed) // ...and ignored
	older := secretFinding("a", false, start.Add(-time.Hour))
	f.importFindings(t, older)
	is.Equal(get().Compliance.Status, types.ComplianceStatusFailed) // an older one too

	newer := secretFinding("a", false, start.Add(time.Hour))
	newer.CreatedAt = aws.String("2026-12-27T12:00:00.000Z")
	newer.Workflow = &types.Workflow{Status: types.WorkflowStatusResolved}
	f.importFindings(t, newer)
	got := get()
	is.Equal(got.Compliance.Status, types.ComplianceStatusPassed) // updated
	is.Equal(aws.ToString(got.UpdatedAt), "2026-12-27T12:00:00.000Z")
	is.Equal(aws.ToString(got.CreatedAt), "2026-12-27T11:00:00.000Z") // kept from creation
	is.Equal(got.Workflow.Status, types.WorkflowStatusNew)            // the customer's, not the provider's
	is.Equal(got.Severity.Label, types.SeverityLabelInformational)    // from the new FindingProviderFields

	s, _ := findings.SecretOf("a", "arn:aws:secretsmanager:us-east-1:"+account+":secret:a-AbCdEf")
	s.Change, s.CheckedAt, s.MaxAgeDays = tables.ChangeGone, start.Add(2*time.Hour), 30
	f.importFindings(t, sdkFinding(findings.ASFF(s)))
	is.Equal(get().RecordState, types.RecordStateArchived)
	is.Equal(len(f.get(t, &types.AwsSecurityFindingFilters{RecordState: equals("ACTIVE")})), 0)
}

// A finding that breaks ASFF fails alone, with a code and a message; the
// others of its batch are imported.
func TestInvalidFindingsFailAlone(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	noSeverity := secretFinding("no-severity", true, start)
	noSeverity.FindingProviderFields = nil
	otherAccount := secretFinding("other", true, start)
	otherAccount.AwsAccountId = aws.String("210987654321")
	oldSchema := secretFinding("schema", true, start)
	oldSchema.SchemaVersion = aws.String("2017-01-01")
	badTime := secretFinding("time", true, start)
	badTime.UpdatedAt = aws.String("yesterday")
	badState := secretFinding("state", true, start)
	badState.RecordState = "DELETED"
	out := f.importFindings(t, secretFinding("good", true, start), noSeverity, otherAccount, oldSchema, badTime, badState)
	is.Equal(aws.ToInt32(out.SuccessCount), int32(1))
	is.Equal(aws.ToInt32(out.FailedCount), int32(5))
	want := map[string]string{"no-severity": "Severity", "other": "AwsAccountId", "schema": "SchemaVersion", "time": "UpdatedAt", "state": "RecordState"}
	for _, ff := range out.FailedFindings {
		name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(ff.Id), "secret-rotation-age/arn:aws:secretsmanager:us-east-1:"+account+":secret:"), "-AbCdEf")
		is.True(aws.ToString(ff.ErrorCode) != "")                            // a code
		is.True(strings.Contains(aws.ToString(ff.ErrorMessage), want[name])) // naming what is wrong
		delete(want, name)
	}
	is.Equal(len(want), 0) // each bad finding reported once
	is.Equal(len(f.get(t, nil)), 1)

	// What the SDK refuses before sending: a raw request without a title.
	body := `{"Findings":[{"SchemaVersion":"2018-10-08","Id":"x","ProductArn":"` + findings.ProductARN("aws", "us-east-1", account) +
		`","GeneratorId":"g","AwsAccountId":"` + account + `","CreatedAt":"2026-12-27T11:00:00Z","UpdatedAt":"2026-12-27T11:00:00Z",` +
		`"Description":"d","Resources":[{"Type":"Other","Id":"r"}],"FindingProviderFields":{"Severity":{"Label":"LOW"},"Types":["t"]}}]}`
	resp, err := http.Post(f.url+"/findings/import", "application/json", strings.NewReader(body))
	is.NoErr(err)
	defer resp.Body.Close()
	var raw struct {
		FailedCount    int
		FailedFindings []struct{ Id, ErrorMessage string }
	}
	is.NoErr(decodeJSON(resp, &raw))
	is.Equal(raw.FailedCount, 1)
	is.True(strings.Contains(raw.FailedFindings[0].ErrorMessage, "Title is required"))
}

// 1 to 100 findings a call: more, or none, fails the whole call.
func TestImportTakesAtMost100(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	var many []types.AwsSecurityFinding
	for i := range 101 {
		many = append(many, secretFinding(fmt.Sprintf("s%03d", i), true, start))
	}
	_, err := f.client.BatchImportFindings(f.ctx, &securityhub.BatchImportFindingsInput{Findings: many})
	var invalid *types.InvalidInputException
	is.True(errors.As(err, &invalid)) // the SDK's typed error
	is.True(strings.Contains(err.Error(), "not 101"))
	_, err = f.client.BatchImportFindings(f.ctx, &securityhub.BatchImportFindingsInput{Findings: []types.AwsSecurityFinding{}})
	is.True(errors.As(err, &invalid))
	out := f.importFindings(t, many[:100]...)
	is.Equal(aws.ToInt32(out.SuccessCount), int32(100))
}

// GetFindings pages with MaxResults and NextToken, every finding once.
func TestGetFindingsPages(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	var all []types.AwsSecurityFinding
	for i := range 250 {
		all = append(all, secretFinding(fmt.Sprintf("s%03d", i), i%2 == 0, start))
	}
	for i := 0; i < len(all); i += 100 {
		f.importFindings(t, all[i:min(i+100, len(all))]...)
	}
	page, err := f.client.GetFindings(f.ctx, &securityhub.GetFindingsInput{MaxResults: aws.Int32(100)})
	is.NoErr(err)
	is.Equal(len(page.Findings), 100)
	is.True(page.NextToken != nil)
	got := f.get(t, nil)
	is.Equal(len(got), 250)
	seen := map[string]bool{}
	for _, id := range ids(got) {
		is.True(!seen[id]) // once each
		seen[id] = true
	}
	is.Equal(len(f.get(t, &types.AwsSecurityFindingFilters{ComplianceStatus: equals("FAILED")})), 125) // filters apply across pages

	_, err = f.client.GetFindings(f.ctx, &securityhub.GetFindingsInput{MaxResults: aws.Int32(101)})
	is.True(err != nil)
	_, err = f.client.GetFindings(f.ctx, &securityhub.GetFindingsInput{NextToken: aws.String("garbage!")})
	is.True(err != nil)
}

// A filter the hub does not answer is refused, never ignored.
func TestUnsupportedFilterIsRefused(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	_, err := f.client.GetFindings(f.ctx, &securityhub.GetFindingsInput{Filters: &types.AwsSecurityFindingFilters{
		Title: equals("x")}})
	var api smithy.APIError
	is.True(errors.As(err, &api))
	is.Equal(api.ErrorCode(), "InvalidInputException")
	is.True(strings.Contains(api.ErrorMessage(), "filter Title"))
	_, err = f.client.GetFindings(f.ctx, &securityhub.GetFindingsInput{Filters: &types.AwsSecurityFindingFilters{
		Id: []types.StringFilter{{Value: aws.String("x"), Comparison: types.StringFilterComparisonPrefix}}}})
	is.True(err != nil && strings.Contains(err.Error(), "PREFIX"))
}

// Findings are kept per region (from the request's signature) and per
// account (from the Account hook).
func TestFindingsPerAccountAndRegion(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	f.importFindings(t, secretFinding("a", true, start))
	eu := clientFor(f.url, "eu-west-1")
	out, err := eu.GetFindings(f.ctx, &securityhub.GetFindingsInput{})
	is.NoErr(err)
	is.Equal(len(out.Findings), 0) // another region's hub is empty
	imported, err := eu.BatchImportFindings(f.ctx, &securityhub.BatchImportFindingsInput{Findings: []types.AwsSecurityFinding{secretFinding("a", true, start)}})
	is.NoErr(err)
	is.Equal(aws.ToInt32(imported.FailedCount), int32(1)) // a us-east-1 product ARN is not eu-west-1's

	f.hub.Account = func(*http.Request) string { return "210987654321" }
	is.Equal(len(f.get(t, nil)), 0) // another account sees none of them
	imported = f.importFindings(t, secretFinding("a", true, start))
	is.Equal(aws.ToString(imported.FailedFindings[0].ErrorCode), "AccessDeniedException") // nor imports as the first
}

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
