// Package loglimit holds back repeated log lines: a client can trigger
// some warnings at will (a produce to a partition without enough in-sync
// replicas, a connection over a limit), and a line per event would bury
// everything else in the log.
package loglimit

import (
	"sync"
	"time"
)

// Every is how often one kind of line is logged at most: a client
// retrying against a partition without enough in-sync replicas would
// otherwise write a line per request (a megabyte a minute).
const Every = 10 * time.Second

// maxKeys bounds the limiter's memory; past it the limiter starts over (a
// few lines more, never unbounded growth).
const maxKeys = 10_000

// Limiter lets a repeated log line through once per Every per key and
// counts the ones it held back. It is safe for concurrent use.
type Limiter struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// New returns an empty limiter.
func New() *Limiter {
	return &Limiter{last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// Allow reports whether the line keyed key may be logged at now, and how
// many were held back since the last one.
func (l *Limiter) Allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < Every {
		l.suppressed[key]++
		return false, 0
	}
	if len(l.last) >= maxKeys {
		clear(l.last)
		clear(l.suppressed)
	}
	n := l.suppressed[key]
	delete(l.suppressed, key)
	l.last[key] = now
	return true, n
}
