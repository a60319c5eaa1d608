// Package funcrunner runs deployed Lambda functions as local processes: each
// function's real bootstrap binary polls a Lambda Runtime API (the embedded
// emulator's), with the environment Lambda would give it. It starts,
// restarts and stops those processes, and never leaves one behind.
//
// It imports only the standard library and package linewriter.
package funcrunner

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"debug/macho"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
)

// Function is the part of a Lambda function's configuration a process needs.
type Function struct {
	FunctionName  string
	Handler       string
	Role          string // the execution role's ARN
	MemorySize    int
	Environment   struct{ Variables map[string]string }
	LoggingConfig struct{ LogFormat string }
}

// Options configure a Runner.
type Options struct {
	// RuntimeAPI is the host:port of the Lambda Runtime API; a function
	// polls RuntimeAPI/_runtime/<name>, which is how kumo routes it.
	RuntimeAPI string
	// Endpoint is the AWS endpoint the functions call (AWS_ENDPOINT_URL).
	Endpoint string
	// Region is the functions' AWS_REGION.
	Region string
	// Logs receives every process's output, each line prefixed with the
	// function's name; nil discards it.
	Logs io.Writer
	// Credentials issues a session of the function's execution role, as
	// Lambda does; nil, or an error, leaves the keys "test"/"test" (the
	// default account's root).
	Credentials func(fn Function) (key, secret, token string, err error)
}

// Runner runs each deployed function's bootstrap as a local process, as
// LocalEmu does with containers.
type Runner struct {
	opts Options
	logs *linewriter.Synced
	dir  string // where bootstraps are unpacked, removed by Close

	starts chan startRequest // served by one locked OS thread, see starter

	mu     sync.Mutex
	fns    map[string]*process
	seq    int
	closed bool
}

// process is one running function.
type process struct {
	fn      Function
	code    []byte
	cmd     *exec.Cmd
	exited  chan struct{}
	started time.Time
}

// dirPrefix names the runner's temporary directories; the process ID that
// follows lets a later runner remove the directory of one that was killed.
const dirPrefix = "localcloud-functions-"

// New returns a runner with an empty functions directory. It first removes
// the directories of runners whose process no longer exists (one killed
// with kill -9 had no chance to).
func New(opts Options) (*Runner, error) {
	removeOrphans(os.TempDir())
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("function runner: %w", err)
	}
	r := &Runner{
		opts:   opts,
		logs:   linewriter.NewSynced(opts.Logs),
		dir:    dir,
		starts: make(chan startRequest),
		fns:    map[string]*process{},
	}
	go r.starter()
	return r, nil
}

// startRequest asks the starter thread to start one command.
type startRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// starter starts every process from one OS thread that lives as long as the
// runner: on Linux the parent-death signal fires when the thread that forked
// a child exits, not when the process does, so a short-lived thread would
// kill its children early. It returns when Close closes starts, after every
// process has been stopped.
func (r *Runner) starter() {
	runtime.LockOSThread()
	for req := range r.starts {
		req.done <- req.cmd.Start()
	}
}

// Apply (re)starts a function with a new configuration and, if code is not
// nil, new code. The old process is stopped first, so no invocation made
// after Apply returns reaches old code. Problems are logged, not returned:
// the emulator has accepted the function, as AWS would.
func (r *Runner) Apply(fn Function, code []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	name := fn.FunctionName
	if old, ok := r.fns[name]; ok {
		if code == nil {
			code = old.code
		}
		old.stop()
		delete(r.fns, name)
	}
	if code == nil {
		r.logs.Printf("runner: %s has no code to run\n", name)
		return
	}
	p, err := r.start(fn, code)
	if err != nil {
		r.logs.Printf("runner: cannot run %s: %v\n", name, err)
		return
	}
	r.fns[name] = p
}

// start unpacks the bootstrap and starts it in its own process group.
func (r *Runner) start(fn Function, code []byte) (*process, error) {
	r.seq++
	dir := filepath.Join(r.dir, fn.FunctionName+"-"+strconv.Itoa(r.seq))
	path, err := unpackBootstrap(code, dir)
	if err != nil {
		return nil, err
	}
	if err := Runnable(path); err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Dir = dir
	cmd.Env = r.environment(fn, dir)
	out := linewriter.Prefixed(r.logs, "["+fn.FunctionName+"] ")
	cmd.Stdout, cmd.Stderr = out, out
	setProcAttr(cmd)
	// Wait must not hang on output pipes a child of the bootstrap keeps open.
	cmd.WaitDelay = time.Second
	p := &process{fn: fn, code: code, cmd: cmd, exited: make(chan struct{}), started: time.Now()}
	done := make(chan error)
	r.starts <- startRequest{cmd: cmd, done: done}
	if err := <-done; err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// environment is what Lambda gives a provided.al2023 function, pointed at
// the local cloud.
func (r *Runner) environment(fn Function, dir string) []string {
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          r.opts.RuntimeAPI + "/_runtime/" + fn.FunctionName,
		"AWS_LAMBDA_FUNCTION_NAME":        fn.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(max(fn.MemorySize, 128)),
		"AWS_LAMBDA_LOG_FORMAT":           fn.LoggingConfig.LogFormat,
		"AWS_REGION":                      r.opts.Region,
		"AWS_DEFAULT_REGION":              r.opts.Region,
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"LAMBDA_TASK_ROOT":                dir,
		"_HANDLER":                        fn.Handler,
		"TZ":                              "UTC",
	}
	if r.opts.Credentials != nil && fn.Role != "" {
		if key, secret, token, err := r.opts.Credentials(fn); err == nil {
			env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = key, secret, token
		} else {
			r.logs.Printf("runner: %s runs as the default account, not its role: %v\n", fn.FunctionName, err)
		}
	}
	maps.Copy(env, fn.Environment.Variables)
	if env["AWS_ENDPOINT_URL"] == "" {
		env["AWS_ENDPOINT_URL"] = r.opts.Endpoint
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// Remove stops a deleted function.
func (r *Runner) Remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.fns[name]; ok {
		p.stop()
		delete(r.fns, name)
	}
}

// StartedAt is when a function's current process started.
func (r *Runner) StartedAt(name string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.fns[name]
	if !ok {
		return time.Time{}, false
	}
	return p.started, true
}

// Running reports whether a function has a process.
func (r *Runner) Running(name string) bool {
	_, ok := r.StartedAt(name)
	return ok
}

// PID is the process ID of a function's current process.
func (r *Runner) PID(name string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.fns[name]
	if !ok {
		return 0, false
	}
	return p.cmd.Process.Pid, true
}

// Close stops every function and removes the unpacked binaries; the error
// says what could not be removed.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	for name, p := range r.fns {
		p.stop()
		delete(r.fns, name)
	}
	close(r.starts)
	if err := os.RemoveAll(r.dir); err != nil {
		return fmt.Errorf("remove the functions directory: %w", err)
	}
	return nil
}

// stop kills the process and everything it started, and waits until it
// has exited.
func (p *process) stop() {
	killGroup(p.cmd)
	<-p.exited
}

// removeOrphans removes the functions directories of runners whose process
// is gone. Another live runner's directory is left alone.
func removeOrphans(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	for _, dir := range dirs {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(dir), dirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir) // best effort: another user's directory may not be ours to remove
	}
}

// unpackBootstrap writes the zip's bootstrap into dir.
func unpackBootstrap(code []byte, dir string) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(code), int64(len(code)))
	if err != nil {
		return "", fmt.Errorf("the function's code is not a zip: %w", err)
	}
	for _, f := range zr.File {
		if f.Name != "bootstrap" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		src, err := f.Open()
		if err != nil {
			return "", err
		}
		defer src.Close()
		path := filepath.Join(dir, "bootstrap")
		dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return "", err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return "", err
		}
		return path, dst.Close()
	}
	return "", errors.New("the function's zip has no bootstrap file at its root")
}

// Runnable checks that a bootstrap was built for this machine, so a Linux
// arm64 build (what AWS runs) gets a clear message instead of exec errors.
func Runnable(path string) error {
	var goos, goarch string
	if f, err := elf.Open(path); err == nil {
		goos = "linux"
		goarch = map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine]
		f.Close()
	} else if f, err := macho.Open(path); err == nil {
		goos = "darwin"
		goarch = map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
		f.Close()
	} else {
		return errors.New("bootstrap is not an executable this runner knows (ELF or Mach-O)")
	}
	if goos != runtime.GOOS || goarch != runtime.GOARCH {
		return fmt.Errorf("bootstrap is built for %s/%s but this machine is %s/%s; deploy a build for this machine to run it locally",
			goos, goarch, runtime.GOOS, runtime.GOARCH)
	}
	return nil
}
