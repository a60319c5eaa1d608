// Package bootstrap builds the Lambda function's bootstrap binary with the
// flags `make build` uses, for AWS (linux on the template's architecture)
// or for this machine (the embedded cloud runs it as a local process), and
// packs it as a deployment package.
//
// Builds are kept in a cache folder keyed by a hash of the function's
// sources, so every test package, `make local` and the benchmarks share
// one build and a warm call runs no go command at all.
//
// It imports only the standard library and runs the go command.
package bootstrap

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Builder builds the function's bootstrap with the flags `make build` uses
// and packs it as a Lambda deployment package.
type Builder struct {
	// ModuleDir is the repository root (where go.mod is).
	ModuleDir string
	// Package is the function's main package, relative to ModuleDir.
	Package string
	// OutDir receives bootstrap-<goos>-<goarch>-<source hash>; empty means
	// the shared cache folder, CacheDir().
	OutDir string

	mu    sync.Mutex
	built map[string][]byte
}

// archs maps Lambda architectures to GOARCH.
var archs = map[string]string{"arm64": "arm64", "x86_64": "amd64"}

// Code returns a Deployer.Code function: on the embedded cloud (host set)
// the bootstrap is built for this machine, because it runs here as a local
// process; for any other endpoint it is the Linux build for the function's
// architecture, as on AWS.
func (b *Builder) Code(host bool) func(ctx context.Context, arch string) ([]byte, error) {
	return func(ctx context.Context, arch string) ([]byte, error) {
		goarch, ok := archs[arch]
		if !ok {
			return nil, fmt.Errorf("architecture %q is not arm64 or x86_64", arch)
		}
		goos := "linux"
		if host {
			goos, goarch = runtime.GOOS, runtime.GOARCH
		}
		return b.Zip(ctx, goos, goarch)
	}
}

// Zip builds the bootstrap for goos/goarch (once per Builder) and returns
// it zipped.
func (b *Builder) Zip(ctx context.Context, goos, goarch string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := goos + "/" + goarch
	if z, ok := b.built[key]; ok {
		return z, nil
	}
	path, err := b.build(ctx, goos, goarch)
	if err != nil {
		return nil, err
	}
	z, err := zipBootstrap(path)
	if err != nil {
		return nil, err
	}
	if b.built == nil {
		b.built = map[string][]byte{}
	}
	b.built[key] = z
	return z, nil
}

// buildFlags are `make build`'s flags; they are part of the cache key.
var buildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// build returns the path of a binary built from the current sources: the
// cached one when its key matches, else a fresh go build. Concurrent
// builders of the same key, in this process or another, build it once.
func (b *Builder) build(ctx context.Context, goos, goarch string) (string, error) {
	out, err := b.path(goos, goarch)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(out)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bootstrap cache: %w", err)
	}
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", fmt.Errorf("bootstrap cache: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil // another process built it while we waited
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", errors.New("the go command is needed to build the function, and it is not on PATH")
	}
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	args := append([]string{"build"}, buildFlags...)
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", tmp, b.Package)...)
	cmd.Dir = b.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build %s for %s/%s: %w\n%s", b.Package, goos, goarch, err, strings.TrimSpace(string(msg)))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("bootstrap cache: %w", err)
	}
	pruneOld(dir, goos, goarch, out)
	return out, nil
}

// path is where the build of the current sources for goos/goarch is kept.
func (b *Builder) path(goos, goarch string) (string, error) {
	dir := b.OutDir
	if dir == "" {
		var err error
		if dir, err = CacheDir(); err != nil {
			return "", err
		}
	}
	key, err := SourceKey(b.ModuleDir, b.Package, goos, goarch, buildFlags)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "bootstrap-"+goos+"-"+goarch+"-"+key), nil
}

// Cached reports whether the build of the current sources for goos/goarch
// is already kept, so that Zip runs no go command.
func (b *Builder) Cached(goos, goarch string) bool {
	path, err := b.path(goos, goarch)
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}

// keepBuilds is how many builds per platform the cache keeps: a few, so
// that two checkouts (or branches) used in turn do not evict each other's
// build on every call, but not one per edit.
const keepBuilds = 4

// pruneOld removes all but the newest keepBuilds builds for goos/goarch,
// keep always among them, with their locks.
func pruneOld(dir, goos, goarch, keep string) {
	builds, _ := filepath.Glob(filepath.Join(dir, "bootstrap-"+goos+"-"+goarch+"-*"))
	builds = slices.DeleteFunc(builds, func(p string) bool {
		return p == keep || strings.HasSuffix(p, ".lock") || strings.Contains(p, ".tmp-")
	})
	modTime := func(p string) time.Time {
		info, err := os.Stat(p)
		if err != nil {
			return time.Time{}
		}
		return info.ModTime()
	}
	slices.SortFunc(builds, func(a, b string) int { return modTime(b).Compare(modTime(a)) }) // newest first
	for _, path := range builds[min(len(builds), keepBuilds-1):] {
		_ = os.Remove(path)
		_ = os.Remove(path + ".lock")
	}
}

// CacheDir is the shared build cache: $ROTATION_AUDIT_CACHE, else
// rotation-audit/bootstrap in the user's cache folder (as go's own build
// cache, ~/.cache on Linux).
func CacheDir() (string, error) {
	if dir := os.Getenv("ROTATION_AUDIT_CACHE"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("bootstrap cache: %w (set ROTATION_AUDIT_CACHE)", err)
	}
	return filepath.Join(base, "rotation-audit", "bootstrap"), nil
}

// zipBootstrap packs a binary as the executable "bootstrap" at a zip's root.
func zipBootstrap(path string) ([]byte, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// Speed over size: the package only travels over loopback.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(bin); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ModuleRoot finds the directory holding go.mod, from dir upwards.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found here or above; run from the rotation-audit repository")
		}
		dir = parent
	}
}
