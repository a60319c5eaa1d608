// Package tests runs the tutorial's scenarios A, B and C against the stack
// deployed from template.yaml: on the embedded cloud by default (plain
// `go test ./...`, nothing to set up), or against the endpoint named by
// ROTCHECK_ENDPOINT (LocalEmu, LocalStack, moto). Set ROTCHECK_ENDPOINT_INVOKE=0
// for an endpoint that cannot run Lambda functions (moto without Docker).
package tests

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/scenario"
)

// The main stack of these tests, as the tutorial names it.
const stackName = "rotcheck"

// env is the endpoint these tests run against.
var env struct {
	clients  *deploy.Clients
	cloud    *localcloud.Cloud // nil on an external endpoint
	invoke   bool              // the endpoint runs Lambda functions
	tmpl     *cfn.Template
	builder  *bootstrap.Builder
	embedded bool

	once  sync.Once
	stack *deploy.StackResult
	err   error
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "tests setup:", err)
		return 1
	}
	code := m.Run()
	if env.cloud != nil {
		defer env.cloud.Close()
	}
	if env.stack != nil {
		res, err := deployer(stackName, nil).Teardown(context.Background(), env.tmpl)
		if err != nil || len(res.Leftovers) > 0 {
			fmt.Fprintf(os.Stderr, "teardown of %s: %v, left behind: %v\n", stackName, err, res)
			return 1
		}
	}
	return code
}

// setup picks the endpoint and prepares the function build.
func setup() error {
	data, err := os.ReadFile("../template.yaml")
	if err != nil {
		return err
	}
	if env.tmpl, err = cfn.Parse(data); err != nil {
		return err
	}
	root, err := bootstrap.ModuleRoot("..")
	if err != nil {
		return err
	}
	env.builder = &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	if endpoint := os.Getenv("ROTCHECK_ENDPOINT"); endpoint != "" {
		env.clients = deploy.NewClients(endpoint, localcloud.DefaultRegion)
		_, env.embedded = clockapi.Probe(context.Background(), endpoint)
		env.invoke = os.Getenv("ROTCHECK_ENDPOINT_INVOKE") != "0"
		fmt.Printf("scenario tests against %s (Lambda invoke: %v)\n", endpoint, env.invoke)
		return nil
	}
	cloud, err := localcloud.Start(localcloud.Options{Logs: testLogs()})
	if err != nil {
		return err
	}
	env.cloud, env.clients, env.invoke, env.embedded = cloud, deploy.NewClients(cloud.URL, localcloud.DefaultRegion), true, true
	return nil
}

// testLogs is where function output goes: shown with -v, hidden otherwise.
func testLogs() io.Writer {
	for _, arg := range os.Args {
		if arg == "-test.v=true" || arg == "-test.v" {
			return os.Stdout
		}
	}
	return io.Discard
}

// deployer returns a deployer of the named stack on the test endpoint.
func deployer(stack string, params map[string]string) *deploy.Deployer {
	return &deploy.Deployer{
		Clients: env.clients, Stack: stack, Params: params,
		Code: env.builder.Code(env.embedded), Logs: io.Discard, Embedded: env.embedded,
	}
}

// deployed deploys the main stack once for every test that needs it; the
// teardown happens in TestMain.
func deployed(t *testing.T) (*deploy.StackResult, scenario.Stack) {
	t.Helper()
	env.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		env.stack, env.err = deployer(stackName, nil).Deploy(ctx, env.tmpl)
	})
	if env.err != nil {
		t.Fatalf("deploy %s: %v", stackName, env.err)
	}
	s, err := scenario.FromOutputs(env.stack.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	return env.stack, s
}

// needsInvoke skips a test on an endpoint that cannot run functions.
func needsInvoke(t *testing.T) {
	t.Helper()
	if !env.invoke {
		t.Skip("skipped: this endpoint cannot run Lambda functions (moto needs Docker for that); the embedded cloud covers it")
	}
}

// needsEmbedded skips a test that needs the embedded cloud's runner or clock.
func needsEmbedded(t *testing.T) {
	t.Helper()
	if env.cloud == nil {
		t.Skip("skipped: needs the embedded cloud (unset ROTCHECK_ENDPOINT)")
	}
}

// arnOf is the ARN the deploy reported for a logical ID.
func arnOf(t *testing.T, s *deploy.StackResult, id string) string {
	t.Helper()
	for _, r := range s.Resources {
		if r.LogicalID == id {
			return r.ARN
		}
	}
	t.Fatalf("the stack has no resource %s", id)
	return ""
}
