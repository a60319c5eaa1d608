package localsecrets

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/motoserver"
)

// TestFiltersAgreeWithMoto runs one short script against moto (what CI
// compares the product against) and against the store, and checks that
// every listing returns the same names.
func TestFiltersAgreeWithMoto(t *testing.T) {
	is := is.New(t)
	motoURL := startMoto(t)
	store := newFixture(t)
	clients := map[string]*secretsmanager.Client{"moto": newClient(motoURL), "store": store.client}

	for _, c := range clients {
		for name, tag := range map[string][2]string{
			"diff-managed":    {"Managed", "true"},
			"diff-managed-by": {"ManagedBy", "x"},
			"diff-owner":      {"Owner", "y"},
		} {
			_, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
				Name: aws.String(name), SecretString: aws.String("s"),
				Tags: []types.Tag{{Key: aws.String(tag[0]), Value: aws.String(tag[1])}},
			})
			is.NoErr(err)
		}
	}
	for _, filters := range [][]types.Filter{
		{flt("tag-key", "Managed")},
		{flt("tag-key", "!Managed")},
		{flt("tag-key", "Managed", "Owner")},
		{flt("tag-value", "tru")},
		{flt("tag-key", "Managed"), flt("tag-value", "x")},
		{flt("name", "diff-managed")},
		{flt("name", "!diff-managed")},
		{flt("all", "managed")},
	} {
		moto, ours := listNames(t, clients["moto"], filters...), listNames(t, clients["store"], filters...)
		t.Logf("%v: moto %v, store %v", describeFilters(filters), moto, ours)
		is.Equal(moto, ours) // the same names from moto and the store
	}
	// The property the product relies on, seen by both.
	is.Equal(listNames(t, clients["moto"], flt("tag-key", "Managed")), []string{"diff-managed", "diff-managed-by"})
}

func describeFilters(filters []types.Filter) string {
	s := ""
	for _, f := range filters {
		s += fmt.Sprintf("%s=%v ", f.Key, f.Values)
	}
	return s
}

// startMoto starts moto_server for the test, or skips it.
func startMoto(t *testing.T) string {
	return motoserver.Start(t, "to run the differential test")
}
