package localcloud

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/sivchari/kumo"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/deploy"
)

// builder builds the real bootstrap, once per platform for the whole test
// binary, into a directory TestMain removes.
var builder *bootstrap.Builder

func TestMain(m *testing.M) {
	root, err := bootstrap.ModuleRoot(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builder = &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	// Test functions are built into a folder of their own: the shared
	// cache keeps one build per platform, the real function's.
	testFnDir, err := os.MkdirTemp("", "localcloud-test-functions-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sqsBatchBuilder = &bootstrap.Builder{ModuleDir: root, Package: "./internal/localcloud/testdata/sqsbatch", OutDir: testFnDir}
	code := m.Run()
	os.RemoveAll(testFnDir)
	os.Exit(code)
}

// bootstrapZip returns the function's real deployment package for goos/goarch.
func bootstrapZip(t *testing.T, goos, goarch string) []byte {
	t.Helper()
	z, err := builder.Zip(context.Background(), goos, goarch)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// clients are SDK clients pointed at a test cloud's front.
func clients(c *Cloud) *deploy.Clients { return deploy.NewClients(c.URL, c.region) }

// startCloud starts an embedded cloud for one test, logging into logs.
func startCloud(t *testing.T, logs io.Writer) *Cloud {
	t.Helper()
	c, err := Start(Options{Logs: logs, ClockStart: cloudStart})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// cloudStart is where the cloud clock of every test cloud starts.
var cloudStart = time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)

func TestFrontAddsDynamoDBChecksum(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	req, err := http.NewRequest(http.MethodPost, c.URL+"/", strings.NewReader("{}"))
	is.NoErr(err)
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	is.NoErr(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	is.NoErr(err)
	is.Equal(resp.StatusCode, http.StatusOK)
	is.Equal(resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)) // what the SDK validates
}

func TestProbe(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	info, ok := clockapi.Probe(context.Background(), c.URL)
	is.True(ok) // the embedded cloud says so
	is.Equal(info, clockapi.Info{Emulator: "kumo", Runner: true, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH})

	plain := kumo.NewServer()
	defer plain.Close()
	_, ok = clockapi.Probe(context.Background(), plain.URL)
	is.True(!ok) // an emulator without our front cannot run host builds
	_, ok = clockapi.Probe(context.Background(), "http://127.0.0.1:1")
	is.True(!ok) // nothing listening
}

func TestStartRefusesBusyAddress(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	_, err := Start(Options{Addr: strings.TrimPrefix(c.URL, "http://")})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "listen on 127.0.0.1:"))               // names the address
	is.True(strings.Contains(err.Error(), "is LocalEmu, LocalStack or another")) // and the likely cause
}

// An address that cannot be resolved is not blamed on LocalEmu.
func TestStartRefusesBadAddress(t *testing.T) {
	is := is.New(t)
	_, err := Start(Options{Addr: "no-such-host.invalid:4566"})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "listen on no-such-host.invalid:4566"))
	is.True(!strings.Contains(err.Error(), "LocalEmu")) // no misleading hint
}

func TestStartRefusesBadClockSpeed(t *testing.T) {
	is := is.New(t)
	_, err := Start(Options{ClockSpeed: -1})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "clock speed -1 is out of range"))
}

// The runner starts the real bootstrap when a function is created, restarts
// it when its configuration or code changes, and stops it on delete.
func TestRunnerFollowsFunctionLifecycle(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	logs := &linewriter.Buffer{}
	c := startCloud(t, logs)
	l := clients(c).Lambda
	name := "runner-lifecycle"
	zip := bootstrapZip(t, runtime.GOOS, runtime.GOARCH)

	created, err := l.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::000000000000:role/r"),
		Runtime: ltypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code:        &ltypes.FunctionCode{ZipFile: zip},
		Environment: &ltypes.Environment{Variables: map[string]string{"TABLE_NAME": "runner-table"}},
	})
	is.NoErr(err)
	first, ok := c.FunctionStarted(name)
	is.True(ok) // started as soon as it was created

	// An invalid event makes the real handler answer with its own error.
	out, err := l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`[1]`)})
	is.NoErr(err)
	is.Equal(aws.ToString(out.FunctionError), "Unhandled")
	is.True(strings.Contains(string(out.Payload), "event must be a JSON object, got an array"))

	_, err = l.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(name), Environment: &ltypes.Environment{Variables: map[string]string{"TABLE_NAME": ""}},
	})
	is.NoErr(err)
	second, ok := c.FunctionStarted(name)
	is.True(ok)
	is.True(second.After(first)) // restarted with the new environment
	out, err = l.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)})
	is.NoErr(err)
	is.True(strings.Contains(string(out.Payload), "TABLE_NAME is required")) // the new environment reached the process

	_, err = l.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zip})
	is.NoErr(err)
	third, ok := c.FunctionStarted(name)
	is.True(ok)
	is.True(third.After(second)) // restarted with the new code
	pid, ok := c.FunctionPID(name)
	is.True(ok)

	_, err = l.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: created.FunctionArn}) // by ARN, as the API allows
	is.NoErr(err)
	_, ok = c.FunctionStarted(name)
	is.True(!ok)                                            // stopped with its function
	is.True(processGone(pid))                               // and the process is gone
	is.True(strings.Contains(logs.String(), "["+name+"] ")) // its output is shown, prefixed with its name
}

// Closing the cloud stops every function process.
func TestCloseStopsFunctions(t *testing.T) {
	is := is.New(t)
	c, err := Start(Options{})
	is.NoErr(err)
	_, err = clients(c).Lambda.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("close-stops"), Role: aws.String("arn:aws:iam::000000000000:role/r"),
		Runtime: ltypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &ltypes.FunctionCode{ZipFile: bootstrapZip(t, runtime.GOOS, runtime.GOARCH)},
	})
	is.NoErr(err)
	// Deleted straight from kumo, behind the front's back: only Close can
	// stop the process now.
	deleteFunction(c, "close-stops")
	pid, ok := c.FunctionPID("close-stops")
	is.True(ok)
	is.True(!processGone(pid)) // running until Close
	is.NoErr(c.Close())
	is.True(processGone(pid)) // no process left behind
}

// A bootstrap built for another platform (what AWS runs) is refused with a
// message saying so, instead of failing obscurely.
func TestRunnerRefusesForeignBinary(t *testing.T) {
	is := is.New(t)
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	logs := &linewriter.Buffer{}
	c := startCloud(t, logs)
	_, err := clients(c).Lambda.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("foreign-binary"), Role: aws.String("arn:aws:iam::000000000000:role/r"),
		Runtime: ltypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Code: &ltypes.FunctionCode{ZipFile: bootstrapZip(t, "linux", foreign)},
	})
	is.NoErr(err) // the emulator stores it as AWS would
	t.Cleanup(func() { deleteFunction(c, "foreign-binary") })
	_, ok := c.FunctionStarted("foreign-binary")
	is.True(!ok)
	is.True(strings.Contains(logs.String(), "cannot run foreign-binary: bootstrap is built for linux/"+foreign))
}

// A schedule in its own group is armed and disarmed like one in the default
// group: Create carries the group in its body, Delete in its query.
func TestScheduleInGroupIsArmed(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	logs := &linewriter.Buffer{}
	c := startCloud(t, logs)
	s := clients(c).Scheduler
	_, err := s.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String("nightly")})
	is.NoErr(err)
	t.Cleanup(func() {
		_, _ = s.DeleteScheduleGroup(context.Background(), &scheduler.DeleteScheduleGroupInput{Name: aws.String("nightly")})
	})
	_, err = s.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name: aws.String("grouped"), GroupName: aws.String("nightly"), ScheduleExpression: aws.String("rate(1 day)"),
		FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff},
		Target: &schtypes.Target{
			Arn:     aws.String("arn:aws:lambda:us-east-1:000000000000:function:grouped-fn"),
			RoleArn: aws.String("arn:aws:iam::000000000000:role/r"),
		},
	})
	is.NoErr(err)
	is.True(strings.Contains(logs.String(), "scheduler: nightly/grouped armed rate(1 day)"))
	is.Equal(len(c.Scheduler().Schedules()), 1)
	_, err = s.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String("grouped"), GroupName: aws.String("nightly")})
	is.NoErr(err)
	is.Equal(len(c.Scheduler().Schedules()), 0) // disarmed with its schedule
}

// deleteFunction removes a test's function from kumo, whose state outlives
// the cloud within one test binary.
func deleteFunction(c *Cloud, name string) {
	direct := lambda.NewFromConfig(clientConfig(c.kumo.URL, c.region))
	_, _ = direct.DeleteFunction(context.Background(), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
}

// processGone reports whether a process has exited (Linux and macOS). A
// process stopped by the runner has been waited for, so it is gone at once.
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	return err != nil || p.Signal(syscall.Signal(0)) != nil
}

// The banner of up says what the cloud clock reads, its speed, and when
// each armed schedule fires next in real time.
func TestClockBanner(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	banner := c.ClockBanner()
	is.True(strings.HasPrefix(banner, "The cloud clock reads 2026-11-25T13:0")) // the cloud's time, not the machine's
	is.True(strings.Contains(banner, "runs at 1x real time."))
	is.True(!strings.Contains(banner, "Schedule ")) // nothing armed yet
}
