package localcloud

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"debug/macho"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// functionConfig is the part of a Lambda FunctionConfiguration the runner
// needs; the front reads it from CreateFunction and Update* responses.
type functionConfig struct {
	FunctionName  string
	FunctionArn   string
	Handler       string
	Timeout       int
	MemorySize    int
	Environment   struct{ Variables map[string]string }
	LoggingConfig struct {
		LogFormat string
	}
}

// runner runs each deployed function's bootstrap as a local process that
// polls kumo's Lambda Runtime API, as LocalEmu does with containers.
type runner struct {
	runtimeAPI string // host:port of kumo, for AWS_LAMBDA_RUNTIME_API
	endpoint   string // the front's URL, for AWS_ENDPOINT_URL
	region     string
	dir        string // where bootstraps are unpacked
	logs       *syncWriter

	mu     sync.Mutex
	fns    map[string]*process
	seq    int
	closed bool
}

// process is one running function.
type process struct {
	cfg     functionConfig
	code    []byte
	cmd     *exec.Cmd
	exited  chan struct{}
	started time.Time
}

func newRunner(runtimeAPI, endpoint, region string, logs *syncWriter) (*runner, error) {
	dir, err := os.MkdirTemp("", "localcloud-functions-")
	if err != nil {
		return nil, fmt.Errorf("function runner: %w", err)
	}
	return &runner{runtimeAPI: runtimeAPI, endpoint: endpoint, region: region, dir: dir, logs: logs, fns: map[string]*process{}}, nil
}

// apply (re)starts a function with a new configuration and, if code is not
// nil, new code. The old process is stopped first, so no invocation made
// after apply returns reaches old code.
func (r *runner) apply(cfg functionConfig, code []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	name := cfg.FunctionName
	if old, ok := r.fns[name]; ok {
		if code == nil {
			code = old.code
		}
		old.stop()
		delete(r.fns, name)
	}
	if code == nil {
		r.logs.printf("runner: %s has no code to run\n", name)
		return
	}
	p, err := r.start(cfg, code)
	if err != nil {
		r.logs.printf("runner: cannot run %s: %v\n", name, err)
		return
	}
	r.fns[name] = p
}

// start unpacks the bootstrap and starts it.
func (r *runner) start(cfg functionConfig, code []byte) (*process, error) {
	r.seq++
	dir := filepath.Join(r.dir, cfg.FunctionName+"-"+strconv.Itoa(r.seq))
	path, err := unpackBootstrap(code, dir)
	if err != nil {
		return nil, err
	}
	if err := runnable(path); err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Dir = dir
	cmd.Env = r.environment(cfg, dir)
	out := r.logs.prefixed("[" + cfg.FunctionName + "] ")
	cmd.Stdout, cmd.Stderr = out, out
	setParentDeathSignal(cmd)
	// Wait must not hang on output pipes a child of the bootstrap keeps open.
	cmd.WaitDelay = time.Second
	p := &process{cfg: cfg, code: code, cmd: cmd, exited: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
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
func (r *runner) environment(cfg functionConfig, dir string) []string {
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          r.runtimeAPI + "/_runtime/" + cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_NAME":        cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(max(cfg.MemorySize, 128)),
		"AWS_LAMBDA_LOG_FORMAT":           cfg.LoggingConfig.LogFormat,
		"AWS_REGION":                      r.region,
		"AWS_DEFAULT_REGION":              r.region,
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"LAMBDA_TASK_ROOT":                dir,
		"_HANDLER":                        cfg.Handler,
		"TZ":                              "UTC",
	}
	for k, v := range cfg.Environment.Variables {
		env[k] = v
	}
	if env["AWS_ENDPOINT_URL"] == "" {
		env["AWS_ENDPOINT_URL"] = r.endpoint
	}
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// remove stops a deleted function.
func (r *runner) remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.fns[name]; ok {
		p.stop()
		delete(r.fns, name)
	}
}

// startedAt is when a function's current process started.
func (r *runner) startedAt(name string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.fns[name]
	if !ok {
		return time.Time{}, false
	}
	return p.started, true
}

// close stops every function and removes the unpacked binaries.
func (r *runner) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for name, p := range r.fns {
		p.stop()
		delete(r.fns, name)
	}
	os.RemoveAll(r.dir)
}

// stop kills the process and waits until it has exited.
func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
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

// runnable checks that a bootstrap was built for this machine, so a Linux
// arm64 build (what AWS runs) gets a clear message instead of exec errors.
func runnable(path string) error {
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

// syncWriter serializes writes from the processes and the clock.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) printf(format string, args ...any) {
	fmt.Fprintf(s, format, args...)
}

// prefixed returns a writer that prefixes every line with prefix.
func (s *syncWriter) prefixed(prefix string) io.Writer {
	return &lineWriter{out: s, prefix: prefix}
}

// lineWriter buffers partial lines so each written line carries the prefix.
type lineWriter struct {
	out    io.Writer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := append([]byte(l.prefix), l.buf[:i+1]...)
		l.buf = l.buf[i+1:]
		if _, err := l.out.Write(line); err != nil {
			return len(p), err
		}
	}
}
