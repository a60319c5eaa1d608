// Package linewriter holds the writers that the local cloud's output goes
// through: function processes, the scheduler and the command's own progress
// lines all write to one terminal from their own goroutines, so writes are
// serialized, and each source's lines can carry a prefix.
//
// It imports only the standard library.
package linewriter

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// Synced serializes writes to an io.Writer, so lines written from several
// goroutines never interleave.
type Synced struct {
	mu sync.Mutex
	w  io.Writer
}

// NewSynced returns a Synced writer to w; nil means io.Discard.
func NewSynced(w io.Writer) *Synced {
	if w == nil {
		w = io.Discard
	}
	return &Synced{w: w}
}

// Write writes p to the underlying writer under the lock.
func (s *Synced) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Printf formats and writes under the lock.
func (s *Synced) Printf(format string, args ...any) {
	fmt.Fprintf(s, format, args...)
}

// Prefixed returns a writer that writes every line to w with prefix in
// front. It holds back a partial line until its newline arrives, so each
// line reaches w in one Write, which keeps lines whole when w is Synced.
func Prefixed(w io.Writer, prefix string) io.Writer {
	return &prefixed{out: w, prefix: []byte(prefix)}
}

// prefixed is the writer Prefixed returns. It has its own lock because a
// process's stdout and stderr may share it.
type prefixed struct {
	mu     sync.Mutex
	out    io.Writer
	prefix []byte
	buf    []byte
}

func (l *prefixed) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := append(append([]byte(nil), l.prefix...), l.buf[:i+1]...)
		l.buf = l.buf[i+1:]
		if _, err := l.out.Write(line); err != nil {
			return len(p), err
		}
	}
}

// Buffer collects what is written to it and can be read at any time, while
// other goroutines still write: the tests of the local cloud read logs that
// processes and the scheduler are writing.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
