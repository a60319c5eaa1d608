package linewriter

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/matryer/is"
)

func TestPrefixedHoldsPartialLines(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	w := Prefixed(&out, "[fn] ")
	fmt.Fprint(w, "first ")
	is.Equal(out.String(), "") // nothing until the line is whole
	fmt.Fprint(w, "line\nsecond line\nthird")
	is.Equal(out.String(), "[fn] first line\n[fn] second line\n") // each whole line, prefixed
}

// Many goroutines writing whole lines through Prefixed and Synced never
// produce a torn line.
func TestSyncedKeepsLinesWhole(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	s := NewSynced(&out)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			w := Prefixed(s, fmt.Sprintf("[%d] ", g))
			for range 200 {
				fmt.Fprint(w, "a b ")
				fmt.Fprint(w, "c\n")
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	is.Equal(len(lines), 8*200)
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, "] ")
		is.True(ok)             // every line starts with its prefix
		is.Equal(rest, "a b c") // and is whole
	}
}
