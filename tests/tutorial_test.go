package tests

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
)

// The tutorial's own tests, in Python with boto3 (tests/tutorial), pass
// against what `make local-up` serves: the localcloud command built from
// source, its up command on a free port with the stack deployed and
// seeded. Ctrl-C then tears the stack down and leaves nothing behind.
func TestTutorialBoto3TestsPassAgainstLocalUp(t *testing.T) {
	needsEmbedded(t)
	python := needsBoto3(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := bootstrap.ModuleRoot("..")
	is.NoErr(err)

	bin := filepath.Join(t.TempDir(), "localcloud")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/localcloud")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/localcloud: %v\n%s", err, out)
	}
	up := startUp(ctx, t, root, bin, "up", "-addr", "127.0.0.1:0", "-stack", stackName)

	tests := exec.CommandContext(ctx, python, filepath.Join("tests", "tutorial", "test_tutorial.py"), "-v")
	tests.Dir = root
	// Only the endpoint and the stack, with test credentials: nothing from
	// the caller's environment (a profile, other names) reaches them.
	tests.Env = append(os.Environ(),
		"ENDPOINT="+up.url, "AWS_ENDPOINT_URL="+up.url, "STACK="+stackName,
		"FUNCTION_NAME=", "SCHEDULE_NAME=", "TABLE_NAME=", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "PYTHONDONTWRITEBYTECODE=1")
	out, err := tests.CombinedOutput()
	t.Logf("python3 tests/tutorial/test_tutorial.py -v against %s:\n%s", up.url, out)
	if err != nil {
		t.Fatalf("the tutorial's boto3 tests failed: %v", err)
	}
	is.True(regexp.MustCompile(`(?m)^Ran 3 tests in `).Match(out)) // scenarios A, B and C all ran
	is.True(regexp.MustCompile(`(?m)^OK$`).Match(out))             // none failed, none skipped

	log := up.stop(t)
	is.True(strings.Contains(log, "clean: nothing left behind")) // Ctrl-C's teardown, after the tutorial's run
}

// needsBoto3 returns python3, or skips the test when python3 or its boto3
// is missing, as on a fresh laptop.
func needsBoto3(t *testing.T) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("skipped: python3 is not installed; the tutorial's boto3 tests need it (CI has it)")
	}
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Skipf("skipped: %s has no boto3 (pip install boto3); the tutorial's tests need it (CI has it)", python)
	}
	return python
}

// localUp is a running `localcloud up`.
type localUp struct {
	cmd  *exec.Cmd
	url  string
	done chan string // the whole output, once the command has closed it
}

// startUp runs the localcloud command at bin with args from root and waits
// until it says the stack is up, and where.
func startUp(ctx context.Context, t *testing.T, root, bin string, args ...string) *localUp {
	t.Helper()
	u := &localUp{cmd: exec.Command(bin, args...), done: make(chan string, 1)}
	u.cmd.Dir = root
	stdout, err := u.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	u.cmd.Stderr = u.cmd.Stdout
	if err := u.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		if u.cmd.ProcessState == nil {
			_ = u.cmd.Process.Kill()
			<-u.done
			_ = u.cmd.Wait()
		}
	})
	ready := regexp.MustCompile(`^The stack is up at (http://\S+)\.`)
	found := make(chan string, 1)
	go func() {
		var log strings.Builder
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			log.WriteString(lines.Text() + "\n")
			if m := ready.FindStringSubmatch(lines.Text()); m != nil && len(found) == 0 {
				found <- m[1]
			}
		}
		u.done <- log.String()
	}()
	select {
	case u.url = <-found:
		return u
	case log := <-u.done:
		_ = u.cmd.Wait()
		t.Fatalf("localcloud %s stopped before the stack was up:\n%s", strings.Join(args, " "), log)
	case <-ctx.Done():
		t.Fatalf("localcloud %s: the stack was not up in time", strings.Join(args, " "))
	}
	return nil
}

// stop sends Ctrl-C, as a user does, and returns the command's output once
// it has exited 0.
func (u *localUp) stop(t *testing.T) string {
	t.Helper()
	if err := u.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt localcloud up: %v", err)
	}
	log := <-u.done
	if err := u.cmd.Wait(); err != nil {
		t.Fatalf("localcloud up after Ctrl-C: %v\n%s", err, log)
	}
	return log
}
