package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/cmdline"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// hostileNames are secret names the report must show as text, each on its
// own row, in every format.
var hostileNames = []string{
	"<script>alert(1)</script>", `"quoted" 'single'`, "=1+2", "@x", "-x", "+x",
	"pässwörd/日本語/🔑", "/prod/db/password", "x/../y", `a|b\`, strings.Repeat("n", 512),
}

// putRun writes a run and its rows straight into the stack's tables, as
// the function would have: the reader is what is under test.
func putRun(t *testing.T, url, stack string, run audit.RunEntry, names []string) {
	t.Helper()
	ctx := context.Background()
	db := deploy.NewClients(url, localcloud.DefaultRegion).DynamoDB
	at, err := tables.ParseRunID(run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	run.Month = tables.MonthOf(at)
	// kumo's TTL sweep runs every 30 s of real time and deletes an item
	// whose expires_at is 0, so the items live a year, as the function's.
	expires := at.AddDate(1, 0, 0).Unix()
	run.ExpiresAt = expires
	if run.Complete {
		run.CompleteKey = "complete" // the run log's sparse index key
	}
	put := func(table string, v any) {
		item, err := attributevalue.MarshalMap(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(stack+"-runs", run)
	for i, name := range names {
		age := 31 + i
		put(stack+"-audit", audit.Record{SecretName: name, RunID: run.RunID, Status: audit.StatusNeedsRotation,
			Reason: audit.ReasonOlderThanMaxAge, CheckedAt: run.CheckedAt, AgeDays: &age, Basis: audit.BasisLastChanged,
			BasisDate: "2026-10-01T00:00:00Z", MaxAgeDays: 30, ExpiresAt: expires})
	}
}

// What a reader can get wrong, read end to end on the embedded cloud: a
// wrong table, a stack that is not there, hostile names, and a run that
// did not complete.
func TestReadingOnTheEmbeddedCloud(t *testing.T) {
	ctx := context.Background()
	url := stack(t)
	out := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, append(args, "-endpoint-url", url), &stdout, &stderr)
		return stdout.String(), err
	}
	oneLine := func(is *is.I, err error) string {
		var line bytes.Buffer
		is.Equal(cmdline.Exit("rotation-audit", err, &line), 2)      // the user's to fix
		is.Equal(strings.Count(line.String(), "\n"), 1)              // one line...
		is.True(!strings.Contains(line.String(), "RequestID"))       // ...without the SDK's request details
		is.True(!strings.Contains(line.String(), "operation error")) // nor its wrapping
		return line.String()
	}

	t.Run("wrong table", func(t *testing.T) {
		is := is.New(t)
		_, err := out("report", "-stack", "cli", "-table", "cli-runs")
		is.True(strings.Contains(oneLine(is, err), "cli-runs is not the audit table of a rotation-check stack"))
		_, err = out("report", "-stack", "cli", "-runs-table", "cli-audit")
		is.True(strings.Contains(oneLine(is, err), "cli-audit is not the run log table of a rotation-check stack"))
	})
	t.Run("-account of a single-account stack", func(t *testing.T) {
		is := is.New(t)
		_, err := out("report", "-stack", "cli", "-account", "111111111111")
		is.True(strings.Contains(oneLine(is, err), "is a single-account run; -account is for an organization hub"))
	})
	t.Run("no such stack", func(t *testing.T) {
		is := is.New(t)
		_, err := out("report", "-stack", "nosuch")
		is.True(strings.Contains(oneLine(is, err), "nosuch-runs does not exist"))
	})
	t.Run("dashboard checks before it serves", func(t *testing.T) {
		for _, args := range [][]string{{"-stack", "nosuch"}, {"-stack", "cli", "-table", "cli-runs"}} {
			is := is.New(t)
			// Should it serve, it stops as soon as it says where.
			ctx, cancel := context.WithCancel(ctx)
			var stdout, stderr bytes.Buffer
			err := run(ctx, append([]string{"dashboard", "-addr", "127.0.0.1:0", "-endpoint-url", url}, args...),
				writerFunc(func(p []byte) (int, error) { cancel(); return stdout.Write(p) }), &stderr)
			cancel()
			oneLine(is, err)
			is.Equal(stdout.String(), "") // it never served
			is.Equal(stderr.String(), "") // nor guessed at a schedule first
		}
	})

	hostile := audit.RunEntry{RunID: "run-1791000000000", CheckedAt: "2026-10-03T04:00:00Z", Checked: len(hostileNames),
		Flagged: len(hostileNames), Complete: true, MaxAgeDays: 30}
	putRun(t, url, "cli", hostile, hostileNames)
	t.Run("hostile names", func(t *testing.T) {
		is := is.New(t)
		n := len(hostileNames)
		table, err := out("report", "-stack", "cli", "-run", hostile.RunID)
		is.NoErr(err)
		is.Equal(strings.Count(table, "\n"), 1+n+1) // the header, a line per secret, the summary
		md, err := out("report", "-stack", "cli", "-run", hostile.RunID, "-format", "markdown")
		is.NoErr(err)
		is.Equal(strings.Count(md, "\n| "), 2+n)                           // the header, the rule, a row per secret
		is.True(!strings.Contains(md, "<script>"))                         // no raw HTML
		is.True(strings.Contains(md, `| \<script\>alert(1)\</script\> |`)) // but the name, escaped
		is.True(strings.Contains(md, `| a\|b\\ |`))                        // the pipe and backslash too
		text, err := out("report", "-stack", "cli", "-run", hostile.RunID, "-format", "csv")
		is.NoErr(err)
		is.Equal(strings.Count(text, "\n"), 1+n)
		records, err := csv.NewReader(strings.NewReader(text)).ReadAll()
		is.NoErr(err)
		names := map[string]bool{}
		for _, rec := range records[1:] {
			names[rec[0]] = true
		}
		for _, want := range []string{"'=1+2", "'@x", "'-x", "'+x", "<script>alert(1)</script>", `"quoted" 'single'`,
			"pässwörd/日本語/🔑", "/prod/db/password", "x/../y", `a|b\`, strings.Repeat("n", 512)} {
			is.True(names[want]) // formulas neutralised, the rest as they are
		}
		js, err := out("report", "-stack", "cli", "-run", hostile.RunID, "-format", "json")
		is.NoErr(err)
		var doc struct {
			Secrets []audit.Record `json:"secrets"`
		}
		is.NoErr(json.Unmarshal([]byte(js), &doc))
		got := map[string]bool{}
		for _, s := range doc.Secrets {
			got[s.SecretName] = true
		}
		for _, name := range hostileNames {
			is.True(got[name]) // JSON keeps every name exactly
		}
	})

	// A run that failed part way, newer than every complete one.
	failed := audit.RunEntry{RunID: "run-1799000000000", CheckedAt: "2027-01-04T06:13:20Z", Checked: 6275, Flagged: 0,
		MaxAgeDays: 30, Error: "list secrets: ThrottlingException: rate exceeded\nwrite audit rows: context deadline exceeded"}
	putRun(t, url, "cli", failed, nil)
	t.Run("incomplete run", func(t *testing.T) {
		for _, f := range report.Formats {
			is := is.New(t)
			got, err := out("report", "-stack", "cli", "-run", failed.RunID, "-all", "-format", string(f))
			is.True(errors.Is(err, errIncomplete))
			var line bytes.Buffer
			is.Equal(cmdline.Exit("rotation-audit", err, &line), 4) // documented: the run is incomplete
			is.Equal(line.String(), "rotation-audit: incomplete run: run run-1799000000000 did not complete, so secrets it did not check or record are missing from this report (its error: list secrets: ThrottlingException: rate exceeded; write audit rows: context deadline exceeded)\n")
			is.True(!strings.Contains(got, "No secret needs rotation"))                                      // not a clean answer
			is.True(strings.Contains(got, "write audit rows: context deadline exceeded") || f == report.CSV) // why, in the output itself
		}
		is := is.New(t)
		// -fail-on-flagged does not hide it: 4 wins over 3.
		_, err := out("report", "-stack", "cli", "-run", failed.RunID, "-fail-on-flagged")
		is.True(errors.Is(err, errIncomplete))
		// The latest run is the latest complete one, however new a failed one.
		latest, err := out("report", "-stack", "cli")
		is.NoErr(err)
		is.True(!strings.Contains(latest, failed.RunID))
		is.True(!strings.Contains(latest, "incomplete"))
	})
}

// With no credentials anywhere (no AWS_* variables, no profile, an
// instance metadata service that refuses), report says so in one line and
// exits 2, quickly, and the SDK's own warnings ("falling back to IMDSv1")
// do not reach the terminal.
func TestNoCredentialsIsOneLine(t *testing.T) {
	is := is.New(t)
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut { // the IMDSv2 token: refused, so the SDK falls back to IMDSv1
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		http.NotFound(w, r) // no role
	}))
	defer imds.Close()
	home := t.TempDir()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)

	// The SDK logs to the process's stderr, not to the writer run is given.
	r, w, err := os.Pipe()
	is.NoErr(err)
	saved := os.Stderr
	os.Stderr = w
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"report"}, &stdout, &stderr)
	os.Stderr = saved
	is.NoErr(w.Close())
	logged, _ := io.ReadAll(r)

	is.Equal(string(logged), "") // no SDK warning
	is.Equal(stderr.String(), "")
	var line bytes.Buffer
	is.Equal(cmdline.Exit("rotation-audit", err, &line), 2)
	is.Equal(line.String(), "rotation-audit: no AWS credentials found (set AWS_PROFILE, run aws sso login, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n")
}

// The dashboard's address is one a browser can open: the host as given,
// with the port it got.
func TestDashboardURL(t *testing.T) {
	is := is.New(t)
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	is.Equal(dashboardURL("0.0.0.0:18192", tcp("::", 18192)), "http://0.0.0.0:18192/") // not http://[::]:18192/
	is.Equal(dashboardURL("127.0.0.1:0", tcp("127.0.0.1", 41234)), "http://127.0.0.1:41234/")
	is.Equal(dashboardURL(":8080", tcp("::", 8080)), "http://localhost:8080/")
	is.Equal(dashboardURL("[::1]:8080", tcp("::1", 8080)), "http://[::1]:8080/")
	is.Equal(dashboardURL("localhost:8080", tcp("127.0.0.1", 8080)), "http://localhost:8080/")
}

// writerFunc is an io.Writer from a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
