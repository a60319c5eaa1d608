package localsecrets

import (
	"context"
	"errors"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

const (
	region  = "us-east-1"
	account = "123456789012"
)

// start is when every test's cloud clock starts: a whole second, so that
// times survive the wire's millisecond precision unchanged.
var start = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fakeClock is a cloud clock that moves only when a test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const day = 24 * time.Hour

// fixture is a store behind a real HTTP server, a real SDK client for it,
// and the clock the store reads.
type fixture struct {
	store  *Store
	clock  *fakeClock
	client *secretsmanager.Client
	url    string
	ctx    context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := &fakeClock{t: start}
	store := New(clock.Now, region, account)
	srv := httptest.NewServer(store)
	t.Cleanup(srv.Close)
	return &fixture{store: store, clock: clock, client: newClient(srv.URL), url: srv.URL, ctx: context.Background()}
}

func newClient(url string) *secretsmanager.Client {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(url) })
}

// create makes a secret with a value and the given tags ("key", "value", ...).
func (f *fixture) create(t *testing.T, name string, tags ...string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1")}
	for i := 0; i+1 < len(tags); i += 2 {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
	}
	out, err := f.client.CreateSecret(f.ctx, in)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return out
}

func (f *fixture) describe(t *testing.T, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := f.client.DescribeSecret(f.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	return out
}

// list returns the sorted names ListSecrets returns for filters, following
// every page.
func (f *fixture) list(t *testing.T, filters ...types.Filter) []string {
	t.Helper()
	return listNames(t, f.client, filters...)
}

func listNames(t *testing.T, client *secretsmanager.Client, filters ...types.Filter) []string {
	t.Helper()
	names := []string{}
	pages := secretsmanager.NewListSecretsPaginator(client, &secretsmanager.ListSecretsInput{Filters: filters})
	for pages.HasMorePages() {
		p, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list secrets: %v", err)
		}
		for _, e := range p.SecretList {
			names = append(names, *e.Name)
		}
	}
	sort.Strings(names)
	return names
}

func flt(key types.FilterNameStringType, values ...string) types.Filter {
	return types.Filter{Key: key, Values: values}
}

// errorCode is the AWS error type of err, or "" when err is no API error.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// errorMessage is the AWS error message of err.
func errorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// at reports whether p is t.
func at(p *time.Time, t time.Time) bool { return p != nil && p.Equal(t) }
