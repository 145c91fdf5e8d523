// Package seriescap bounds the distinct values metrics name, so that
// callers who choose the values (a tenant's definitions, a request's model
// key) cannot grow the number of series without bound.
package seriescap

import "sync"

// Overflow stands, in a metric's attributes, for the values beyond a
// [Set]'s bound.
const Overflow = "_OTHER"

// A Set admits the first max distinct values it is asked about, and those
// again; it is safe for concurrent use.
type Set[K comparable] struct {
	mu   sync.Mutex
	max  int
	seen map[K]struct{}
}

// New returns a set admitting at most max values.
func New[K comparable](max int) *Set[K] {
	return &Set[K]{max: max, seen: map[K]struct{}{}}
}

// Admit reports whether k may be named: it was admitted before, or there
// is room for it.
func (s *Set[K]) Admit(k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[k]; ok {
		return true
	}
	if len(s.seen) >= s.max {
		return false
	}
	s.seen[k] = struct{}{}
	return true
}

// Name returns key when s admits it, else [Overflow].
func Name(s *Set[string], key string) string {
	if s.Admit(key) {
		return key
	}
	return Overflow
}
