package dashboard

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// builders bounds the pages and downloads the dashboard builds at once: a
// burst of requests queues for a turn instead of multiplying its memory
// and the reads behind it.
const builders = 4

// computeTimeout bounds a computation that requests share: it goes on
// when the request that started it leaves, as others may be waiting.
const computeTimeout = 5 * time.Minute

// keptValues bounds the shared values the dashboard keeps: the latest
// run's flagged rows, and the secrets of the last few quarters viewed.
const keptValues = 4

// shared is the dashboard's bounded work: a turn to build a page, and
// values computed once for every request that needs them until what they
// are read from changes (a new run lands).
type shared struct {
	once   sync.Once
	turns  chan struct{}
	flight singleflight.Group

	mu   sync.Mutex
	kept []keptValue // most recently used last
}

// keptValue is a value computed for a slot (such as "secrets 2026Q4")
// from what key names.
type keptValue struct {
	slot, key string
	value     any
}

// turn waits for a turn to build a page, and returns the function that
// gives it back; it fails when the request is given up first.
func (s *shared) turn(ctx context.Context) (func(), error) {
	s.once.Do(func() { s.turns = make(chan struct{}, builders) })
	select {
	case s.turns <- struct{}{}:
		return func() { <-s.turns }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// value is the slot's value for key: the one kept, or one computation
// shared by every request that asks for it meanwhile. A value computed
// for a newer key replaces the slot's older one.
func (s *shared) value(ctx context.Context, slot, key string, compute func(context.Context) (any, error)) (any, error) {
	s.mu.Lock()
	for i, v := range s.kept {
		if v.slot == slot && v.key == key {
			s.kept = append(slices.Delete(s.kept, i, i+1), v)
			s.mu.Unlock()
			return v.value, nil
		}
	}
	s.mu.Unlock()
	done := s.flight.DoChan(slot+"\x00"+key, func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), computeTimeout)
		defer cancel()
		v, err := compute(cctx)
		if err == nil {
			s.keep(keptValue{slot: slot, key: key, value: v})
		}
		return v, err
	})
	select {
	case r := <-done:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// keep keeps a value, in place of its slot's older one, and forgets the
// least recently used beyond keptValues.
func (s *shared) keep(v keptValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept = slices.DeleteFunc(s.kept, func(k keptValue) bool { return k.slot == v.slot })
	s.kept = append(s.kept, v)
	if len(s.kept) > keptValues {
		s.kept = slices.Delete(s.kept, 0, len(s.kept)-keptValues)
	}
}

// bounded takes a turn before the handler, so at most builders run at
// once; a request given up while it waits gets nothing.
func (s *shared) bounded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done, err := s.turn(r.Context())
		if err != nil {
			return // nobody is waiting for the answer
		}
		defer done()
		h.ServeHTTP(w, r)
	})
}
