package server

import (
	"sync"
	"time"
)

// logEvery is how often one kind of per-partition warning is logged at
// most: a client retrying against a partition without enough in-sync
// replicas would otherwise write a line per request (a megabyte a minute),
// burying everything else.
const logEvery = 10 * time.Second

// maxLimitedKeys bounds the limiter's memory; past it the limiter starts
// over (a few lines more, never unbounded growth).
const maxLimitedKeys = 10_000

// logLimiter lets a repeated log line through once per logEvery per key
// and counts the ones it held back.
type logLimiter struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newLogLimiter() *logLimiter {
	return &logLimiter{last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// allow reports whether the line keyed key may be logged at now, and how
// many were held back since the last one.
func (l *logLimiter) allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < logEvery {
		l.suppressed[key]++
		return false, 0
	}
	if len(l.last) >= maxLimitedKeys {
		clear(l.last)
		clear(l.suppressed)
	}
	n := l.suppressed[key]
	delete(l.suppressed, key)
	l.last[key] = now
	return true, n
}
