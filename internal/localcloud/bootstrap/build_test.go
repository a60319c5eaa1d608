package bootstrap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/matryer/is"
)

// writeModule lays out a tiny module: a main package importing a library
// package of the same module, plus a test file.
func writeModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":            "module example.com/fn\n\ngo 1.26.0\n",
		"fn/main.go":        "package main\n\nimport \"example.com/fn/lib\"\n\nfunc main() { println(lib.Name) }\n",
		"lib/lib.go":        "package lib\n\n// Name is printed.\nconst Name = \"one\"\n",
		"lib/lib_test.go":   "package lib\n",
		"other/unused.go":   "package other\n",
		"lib/skip_plan9.go": "package lib\n\nconst Plan9 = true\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSourceKeyFollowsTheBuild(t *testing.T) {
	is := is.New(t)
	dir := writeModule(t)
	key := func() string {
		k, err := SourceKey(dir, "./fn", "linux", "arm64", buildFlags)
		is.NoErr(err)
		return k
	}
	edit := func(name, body string) {
		is.NoErr(os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	k0 := key()
	is.Equal(key(), k0) // the same sources give the same key

	edit("lib/lib_test.go", "package lib\n\n// A test changes nothing built.\n")
	edit("other/unused.go", "package other\n\nconst X = 1\n")
	edit("lib/skip_plan9.go", "package lib\n\nconst Plan9 = false\n")
	is.Equal(key(), k0) // tests, packages not imported and other platforms' files are not part of the build

	edit("lib/lib.go", "package lib\n\n// Name is printed.\nconst Name = \"two\"\n")
	k1 := key()
	is.True(k1 != k0) // an imported package's source is part of the build

	other, err := SourceKey(dir, "./fn", "linux", "amd64", buildFlags)
	is.NoErr(err)
	is.True(other != k1) // the platform is part of the key

	edit("go.mod", "module example.com/fn\n\ngo 1.26.0\n\n// edited\n")
	is.True(key() != k1) // so is go.mod
}

func TestZipBuildsOnceThenReusesTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	is := is.New(t)
	dir := writeModule(t)
	cache := t.TempDir()
	b := &Builder{ModuleDir: dir, Package: "./fn", OutDir: cache}
	ctx := context.Background()
	is.True(!b.Cached(runtime.GOOS, runtime.GOARCH)) // nothing built yet
	z, err := b.Zip(ctx, runtime.GOOS, runtime.GOARCH)
	is.NoErr(err)
	is.True(len(z) > 0)
	is.True(b.Cached(runtime.GOOS, runtime.GOARCH)) // now kept
	built, _ := filepath.Glob(filepath.Join(cache, "bootstrap-*"))

	// A second builder (another test package, a later make local) finds the
	// binary without the go command: with no go on PATH it still succeeds.
	t.Setenv("PATH", "")
	again := &Builder{ModuleDir: dir, Package: "./fn", OutDir: cache}
	z2, err := again.Zip(ctx, runtime.GOOS, runtime.GOARCH)
	is.NoErr(err)
	is.Equal(len(z2), len(z)) // the same binary, zipped again

	// After an edit the key changes and a build is needed: without go on
	// PATH that fails, naming the go command.
	is.NoErr(os.WriteFile(filepath.Join(dir, "lib/lib.go"), []byte("package lib\n\nconst Name = \"three\"\n"), 0o644))
	is.True(!again.Cached(runtime.GOOS, runtime.GOARCH)) // the kept build is of other sources
	_, err = (&Builder{ModuleDir: dir, Package: "./fn", OutDir: cache}).Zip(ctx, runtime.GOOS, runtime.GOARCH)
	is.True(err != nil)     // a stale cache entry is never used
	is.Equal(len(built), 2) // the binary and its lock file
}

// The cache keeps the newest few builds per platform, the one just built
// always among them, and no other platform's build is touched.
func TestPruneKeepsTheNewestBuilds(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	touch := func(name string, age int) string {
		path := filepath.Join(dir, name)
		is.NoErr(os.WriteFile(path, nil, 0o644))
		at := base.Add(time.Duration(age) * time.Minute)
		is.NoErr(os.Chtimes(path, at, at))
		return path
	}
	for i := range 6 {
		touch(fmt.Sprintf("bootstrap-linux-amd64-old%d", i), i) // old5 is the newest of them
		touch(fmt.Sprintf("bootstrap-linux-amd64-old%d.lock", i), i)
	}
	other := touch("bootstrap-linux-arm64-x", 0)
	keep := touch("bootstrap-linux-amd64-new", -10) // just built, though its mtime is old
	pruneOld(dir, "linux", "amd64", keep)
	left, _ := filepath.Glob(filepath.Join(dir, "bootstrap-linux-amd64-*"))
	slices.Sort(left)
	is.Equal(left, []string{
		keep,
		filepath.Join(dir, "bootstrap-linux-amd64-old3"), filepath.Join(dir, "bootstrap-linux-amd64-old3.lock"),
		filepath.Join(dir, "bootstrap-linux-amd64-old4"), filepath.Join(dir, "bootstrap-linux-amd64-old4.lock"),
		filepath.Join(dir, "bootstrap-linux-amd64-old5"), filepath.Join(dir, "bootstrap-linux-amd64-old5.lock"),
	}) // keepBuilds in all
	_, err := os.Stat(other)
	is.NoErr(err) // another platform's build stays
}
