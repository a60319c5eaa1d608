package localsecrets

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
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

// startMoto starts moto_server on a free loopback port for the test and
// returns its URL, or skips the test when moto_server is not installed.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not on PATH (pip install 'moto[server]' to run the differential test)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := newClient(url)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{})
		if err == nil {
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // waiting for a process to start, not for the cloud clock
	}
}
