package localsecrets

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
)

// filterFixture holds secrets that tell the filters apart.
func filterFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.create(t, "managed", "Managed", "true")
	f.create(t, "managed-by", "ManagedBy", "terraform")
	f.create(t, "owned", "Owner", "team-a")
	f.create(t, "untagged")
	_, err := f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/AppBeta/db"), SecretString: aws.String("x"), Description: aws.String("Primary database password"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestListSecretsFilters(t *testing.T) {
	f := filterFixture(t)
	tests := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"no filter lists everything", nil,
			[]string{"managed", "managed-by", "owned", "prod/AppBeta/db", "untagged"}},
		{"tag-key is a prefix: Managed also matches ManagedBy", []types.Filter{flt("tag-key", "Managed")},
			[]string{"managed", "managed-by"}},
		{"tag-key is case-sensitive", []types.Filter{flt("tag-key", "managed")},
			[]string{}},
		{"tag-key Owner matches only Owner", []types.Filter{flt("tag-key", "Owner")},
			[]string{"owned"}},
		{"negation matches a tag key that does not start with the value", []types.Filter{flt("tag-key", "!Managed")},
			[]string{"owned"}}, // untagged secrets have no tag key to test
		{"tag-value is a prefix", []types.Filter{flt("tag-value", "tru")},
			[]string{"managed"}},
		{"several values OR", []types.Filter{flt("tag-value", "tru", "team")},
			[]string{"managed", "owned"}},
		{"several keys AND", []types.Filter{flt("tag-key", "Managed"), flt("tag-value", "terra")},
			[]string{"managed-by"}},
		{"name is a case-sensitive prefix", []types.Filter{flt("name", "managed")},
			[]string{"managed", "managed-by"}},
		{"name does not match inside the name", []types.Filter{flt("name", "AppBeta")},
			[]string{}},
		{"name negation", []types.Filter{flt("name", "!managed")},
			[]string{"owned", "prod/AppBeta/db", "untagged"}},
		{"description matches words in any case", []types.Filter{flt("description", "DATA pass")},
			[]string{"prod/AppBeta/db"}},
		{"description words must start words", []types.Filter{flt("description", "base")},
			[]string{}},
		{"all searches name words", []types.Filter{flt("all", "beta")},
			[]string{"prod/AppBeta/db"}},
		{"all searches tag keys and values", []types.Filter{flt("all", "terraform")},
			[]string{"managed-by"}},
		{"all splits ManagedBy into words", []types.Filter{flt("all", "managed")},
			[]string{"managed", "managed-by"}},
		{"a lone special character is no word", []types.Filter{flt("all", "/")},
			[]string{}},
		{"owning-service matches only service-owned secrets", []types.Filter{flt("owning-service", "rds")},
			[]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(f.list(t, tt.filters...), tt.want)
		})
	}
}

func TestListSecretsRejectsBadFilters(t *testing.T) {
	f := newFixture(t)
	eleven := strings.Split("a b c d e f g h i j k", " ")
	tests := []struct {
		name     string
		filters  []types.Filter
		wantCode string
		wantMsg  string
	}{
		{"unknown key", []types.Filter{flt("colour", "red")}, "ValidationException",
			"1 validation error detected: Value 'colour' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]"},
		{"missing key", []types.Filter{{Values: []string{"x"}}}, "InvalidParameterException", "Invalid filter key"},
		{"missing values", []types.Filter{{Key: "name"}}, "InvalidParameterException", "Invalid filter values for key: name"},
		{"too many values", []types.Filter{flt("name", eleven...)}, "ValidationException", ""},
		{"a character outside the pattern", []types.Filter{flt("name", "a*")}, "ValidationException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			_, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{Filters: tt.filters})
			is.Equal(errorCode(err), tt.wantCode)
			if tt.wantMsg != "" {
				is.Equal(errorMessage(err), tt.wantMsg)
			}
		})
	}
}

func TestListSecretsEntriesCarryTheSecretsDates(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	created := f.create(t, "dated", "Managed", "true")
	f.clock.Advance(2 * day)
	_, err := f.client.GetSecretValue(f.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("dated")})
	is.NoErr(err)

	out, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{})
	is.NoErr(err)
	is.Equal(len(out.SecretList), 1)
	e := out.SecretList[0]
	is.Equal(*e.ARN, *created.ARN)
	is.True(at(e.CreatedDate, start))
	is.True(at(e.LastChangedDate, start))
	is.True(at(e.LastAccessedDate, midnight(start.Add(2*day))))
	is.Equal(e.SecretVersionsToStages, map[string][]string{*created.VersionId: {"AWSCURRENT"}})
	is.Equal(e.Tags, []types.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}})
	is.Equal(e.LastRotatedDate, nil)
	is.Equal(e.RotationEnabled, nil)
}

func TestListSecretsPagesThrough250SecretsEachExactlyOnce(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	for i := range 250 {
		f.create(t, fmt.Sprintf("bulk-%03d", i))
		if i%7 == 0 {
			f.clock.Advance(time.Minute) // some creation times tie, some do not
		}
	}
	seen := map[string]int{}
	pages := 0
	p := secretsmanager.NewListSecretsPaginator(f.client, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		out, err := p.NextPage(f.ctx)
		is.NoErr(err)
		is.True(len(out.SecretList) <= 100)
		pages++
		for _, e := range out.SecretList {
			seen[*e.Name]++
		}
	}
	is.Equal(pages, 3)
	is.Equal(len(seen), 250)
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", name, n)
		}
	}
}

func TestListSecretsTokenSurvivesAChangedPopulation(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	for _, name := range []string{"a", "b", "c", "d"} {
		f.create(t, name)
		f.clock.Advance(time.Second)
	}
	first, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(2)})
	is.NoErr(err)
	is.Equal([]string{*first.SecretList[0].Name, *first.SecretList[1].Name}, []string{"a", "b"})

	// Between the pages, the last secret returned goes and a new one comes.
	_, err = f.client.DeleteSecret(f.ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("b"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	is.NoErr(err)
	f.create(t, "e")

	rest, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(2), NextToken: first.NextToken})
	is.NoErr(err)
	is.Equal([]string{*rest.SecretList[0].Name, *rest.SecretList[1].Name}, []string{"c", "d"})
	last, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(2), NextToken: rest.NextToken})
	is.NoErr(err)
	is.Equal(len(last.SecretList), 1)
	is.Equal(*last.SecretList[0].Name, "e")
	is.Equal(last.NextToken, nil)
}

func TestListSecretsSortOrder(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	for _, name := range []string{"zeta", "alpha", "mid"} {
		f.create(t, name)
		f.clock.Advance(time.Second)
	}
	names := func(in *secretsmanager.ListSecretsInput) []string {
		out, err := f.client.ListSecrets(f.ctx, in)
		is.NoErr(err)
		var names []string
		for _, e := range out.SecretList {
			names = append(names, *e.Name)
		}
		return names
	}
	is.Equal(names(&secretsmanager.ListSecretsInput{}), []string{"zeta", "alpha", "mid"}) // by CreatedDate
	is.Equal(names(&secretsmanager.ListSecretsInput{SortOrder: types.SortOrderTypeDesc}), []string{"mid", "alpha", "zeta"})
	is.Equal(names(&secretsmanager.ListSecretsInput{SortBy: types.SortByTypeName}), []string{"alpha", "mid", "zeta"})
	_, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{SortOrder: "sideways"})
	is.Equal(errorCode(err), "ValidationException")
}

func TestUnknownOperationIsNamedInAnAWSError(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	req, err := http.NewRequest(http.MethodPost, f.url+"/", strings.NewReader("{}"))
	is.NoErr(err)
	req.Header.Set("X-Amz-Target", "secretsmanager.GetResourcePolicy")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	is.NoErr(err)
	defer resp.Body.Close()
	is.Equal(resp.StatusCode, http.StatusBadRequest)
	body, err := io.ReadAll(resp.Body)
	is.NoErr(err)
	is.Equal(string(body), `{"__type":"UnknownOperationException","message":"Unknown operation: secretsmanager.GetResourcePolicy"}`)
}

func TestConcurrentRequestsAreSafe(t *testing.T) {
	is := is.New(t)
	f := newFixture(t)
	managed := []types.Filter{flt("tag-key", "Managed")}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := aws.String(fmt.Sprintf("c-%d", i))
			tags := []types.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}}
			if _, err := f.client.CreateSecret(f.ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v"), Tags: tags}); err != nil {
				t.Error(err)
			}
			for range 5 {
				f.clock.Advance(time.Hour)
				if _, err := f.client.PutSecretValue(f.ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String("v")}); err != nil {
					t.Error(err)
				}
				if _, err := f.client.ListSecrets(f.ctx, &secretsmanager.ListSecretsInput{Filters: managed}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	is.Equal(len(f.list(t, managed...)), 8)
}
