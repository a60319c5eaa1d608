package funcrunner

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

// sleeperZip builds testdata/sleeper for this machine, once, and returns it
// as a Lambda deployment package.
var sleeperZip = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "funcrunner-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bootstrap")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/sleeper").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build sleeper: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Store}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
})

func sleeper(t *testing.T) []byte {
	t.Helper()
	z, err := sleeperZip()
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// waitFor waits until cond holds, failing the test after a deadline far
// beyond what it needs. It waits for something to happen (a process
// printing, a process dying), never to prove that nothing did.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged waits for a line "<word> <pid>" from the named function.
func logged(t *testing.T, logs *linewriter.Buffer, fn, word string) int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\[` + regexp.QuoteMeta(fn) + `\] ` + word + ` (\d+)$`)
	var pid int
	waitFor(t, fn+" to print "+word, func() bool {
		m := re.FindStringSubmatch(logs.String())
		if m == nil {
			return false
		}
		pid, _ = strconv.Atoi(m[1])
		return true
	})
	return pid
}

// gone reports whether a process has exited. A zombie (exited, not yet
// reaped by its new parent) counts as gone: it runs no code.
func gone(pid int) bool {
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		return len(fields) > 0 && fields[0] == "Z"
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

func newRunner(t *testing.T, logs *linewriter.Buffer) *Runner {
	t.Helper()
	r, err := New(Options{RuntimeAPI: "127.0.0.1:1", Endpoint: "http://127.0.0.1:1", Region: "us-east-1", Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func TestApplyStartsWithLambdaEnvironment(t *testing.T) {
	is := is.New(t)
	r := newRunner(t, &linewriter.Buffer{})
	fn := Function{FunctionName: "env-fn", Handler: "bootstrap", MemorySize: 256}
	fn.Environment.Variables = map[string]string{"TABLE_NAME": "audit"}
	env := r.environment(fn, "/task")
	for _, want := range []string{
		"AWS_LAMBDA_RUNTIME_API=127.0.0.1:1/_runtime/env-fn", "AWS_LAMBDA_FUNCTION_NAME=env-fn",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"LAMBDA_TASK_ROOT=/task", "TABLE_NAME=audit", "_HANDLER=bootstrap",
	} {
		is.True(strings.Contains(strings.Join(env, "\n"), want)) // what Lambda gives a function, pointed here
	}
}

// Removing a function kills its whole process group: nothing the bootstrap
// started survives it.
func TestRemoveKillsProcessGroup(t *testing.T) {
	is := is.New(t)
	logs := &linewriter.Buffer{}
	r := newRunner(t, logs)
	fn := Function{FunctionName: "group-fn"}
	fn.Environment.Variables = map[string]string{"SLEEPER_CHILD": "1"}
	r.Apply(fn, sleeper(t))
	child := logged(t, logs, "group-fn", "child")
	pid, ok := r.PID("group-fn")
	is.True(ok)
	is.True(!gone(child)) // the bootstrap's own child runs

	r.Remove("group-fn")
	is.True(gone(pid)) // the bootstrap was waited for
	waitFor(t, "the bootstrap's child to die", func() bool { return gone(child) })
	_, ok = r.StartedAt("group-fn")
	is.True(!ok)
}

// Applying a new configuration restarts the process; Close stops every
// process and removes the functions directory.
func TestApplyRestartsAndCloseCleansUp(t *testing.T) {
	is := is.New(t)
	logs := &linewriter.Buffer{}
	r, err := New(Options{RuntimeAPI: "127.0.0.1:1", Region: "us-east-1", Logs: logs})
	is.NoErr(err)
	r.Apply(Function{FunctionName: "restart-fn"}, sleeper(t))
	first, _ := r.PID("restart-fn")
	r.Apply(Function{FunctionName: "restart-fn", MemorySize: 512}, nil) // a configuration change keeps the code
	second, ok := r.PID("restart-fn")
	is.True(ok)
	is.True(second != first) // a new process
	is.True(gone(first))     // and the old one is gone

	is.NoErr(r.Close())
	is.True(gone(second))
	_, err = os.Stat(r.dir)
	is.True(os.IsNotExist(err)) // the unpacked binaries are removed
	is.NoErr(r.Close())         // closing twice is harmless
}

func TestApplyRefusesForeignBinary(t *testing.T) {
	is := is.New(t)
	logs := &linewriter.Buffer{}
	r := newRunner(t, logs)
	r.Apply(Function{FunctionName: "bad-zip"}, []byte("not a zip"))
	_, ok := r.PID("bad-zip")
	is.True(!ok)
	is.True(strings.Contains(logs.String(), "runner: cannot run bad-zip: the function's code is not a zip"))
}

// TestMain turns this test binary into the helper process of
// TestKill9LeavesNoBootstrap when FUNCRUNNER_HELPER is set.
func TestMain(m *testing.M) {
	if os.Getenv("FUNCRUNNER_HELPER") == "1" {
		helperProcess()
		return
	}
	os.Exit(m.Run())
}

// helperProcess starts a runner with the sleeper, prints the bootstrap's
// process ID and the runner's directory, and waits to be killed.
func helperProcess() {
	code, err := os.ReadFile(os.Getenv("FUNCRUNNER_ZIP"))
	if err != nil {
		fmt.Println("HELPER-ERROR", err)
		os.Exit(1)
	}
	logs := &linewriter.Buffer{}
	r, err := New(Options{RuntimeAPI: "127.0.0.1:1", Region: "us-east-1", Logs: logs})
	if err != nil {
		fmt.Println("HELPER-ERROR", err)
		os.Exit(1)
	}
	r.Apply(Function{FunctionName: "orphan-fn"}, code)
	for !strings.Contains(logs.String(), "] ready ") {
		time.Sleep(5 * time.Millisecond)
	}
	pid, _ := r.PID("orphan-fn")
	fmt.Printf("HELPER %d %s\n", pid, r.dir)
	time.Sleep(time.Hour)
}

// kill -9 of the command that runs functions leaves no bootstrap behind,
// and the next runner removes the directory it could not clean up.
func TestKill9LeavesNoBootstrap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only; elsewhere only Close stops functions")
	}
	is := is.New(t)
	zipFile := filepath.Join(t.TempDir(), "sleeper.zip")
	is.NoErr(os.WriteFile(zipFile, sleeper(t), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "FUNCRUNNER_HELPER=1", "FUNCRUNNER_ZIP="+zipFile)
	stdout, err := cmd.StdoutPipe()
	is.NoErr(err)
	is.NoErr(cmd.Start())
	var pid int
	var dir string
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		if _, err := fmt.Sscanf(sc.Text(), "HELPER %d %s", &pid, &dir); err == nil {
			break
		}
	}
	is.True(pid > 0)    // the helper started a bootstrap
	is.True(!gone(pid)) // which runs
	is.NoErr(cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	waitFor(t, "the orphaned bootstrap to die", func() bool { return gone(pid) })
	_, err = os.Stat(dir)
	is.NoErr(err) // a killed runner cannot remove its directory...

	newRunner(t, &linewriter.Buffer{})
	_, err = os.Stat(dir)
	is.True(os.IsNotExist(err)) // ...so the next runner does
}

// A function runs with a session of its execution role, as on Lambda,
// when the cloud can issue one; otherwise with the default account's keys.
func TestEnvironmentCarriesTheRolesSession(t *testing.T) {
	is := is.New(t)
	logs := &linewriter.Buffer{}
	r := newRunner(t, logs)
	fn := Function{FunctionName: "role-fn", Role: "arn:aws:iam::000000000000:role/fn-role"}
	is.True(strings.Contains(strings.Join(r.environment(fn, "/task"), "\n"), "AWS_ACCESS_KEY_ID=test")) // no issuer: the default account

	r.opts.Credentials = func(got Function) (string, string, string, error) {
		if got.Role != "arn:aws:iam::000000000000:role/fn-role" {
			return "", "", "", errors.New("unknown role")
		}
		return "ASIAFN", "s3cret", "tok", nil
	}
	env := strings.Join(r.environment(fn, "/task"), "\n")
	for _, want := range []string{"AWS_ACCESS_KEY_ID=ASIAFN", "AWS_SECRET_ACCESS_KEY=s3cret", "AWS_SESSION_TOKEN=tok"} {
		is.True(strings.Contains(env, want)) // the role's session
	}
	fn.Role = "arn:aws:iam::000000000000:role/other"
	is.True(strings.Contains(strings.Join(r.environment(fn, "/task"), "\n"), "AWS_ACCESS_KEY_ID=test")) // falls back, and says so
	is.True(strings.Contains(logs.String(), "runs as the default account"))
}
