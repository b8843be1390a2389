package fjordtest

import (
	"bytes"
	"fmt"
	"sync"
)

// Limits on captured broker output: enough for any assertion a test makes
// about startup and shutdown lines, bounded so a chatty broker cannot eat the
// test machine's memory.
const (
	outputLimit  = 8 << 20  // bytes of output kept; older bytes are dropped
	lineLimit    = 64 << 10 // longest line scanned for the bootstrap marker
	failDumpSize = 64 << 10 // bytes of output logged when a test fails
)

// output is an io.Writer that keeps the most recent outputLimit bytes written
// to it and hands each complete line to a callback. It is safe for concurrent
// use.
type output struct {
	mu      sync.Mutex
	buf     []byte // guarded by mu: the kept output
	dropped int64  // guarded by mu: bytes dropped from the front of buf
	line    []byte // guarded by mu: the incomplete last line, at most lineLimit
	onLine  func(string)
}

// Write implements io.Writer; it never fails.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.buf = append(o.buf, p...)
	if len(o.buf) > outputLimit {
		// Drop the older half at once so appends stay amortised O(1).
		cut := len(o.buf) - outputLimit/2
		o.dropped += int64(cut)
		o.buf = append(o.buf[:0], o.buf[cut:]...)
	}
	var lines []string
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			o.line = appendBounded(o.line, rest)
			break
		}
		o.line = appendBounded(o.line, rest[:i])
		lines = append(lines, string(o.line))
		o.line = o.line[:0]
		rest = rest[i+1:]
	}
	hook := o.onLine
	o.mu.Unlock()
	if hook != nil {
		for _, l := range lines {
			hook(l)
		}
	}
	return len(p), nil
}

func appendBounded(dst, src []byte) []byte {
	if room := lineLimit - len(dst); room < len(src) {
		src = src[:max(room, 0)]
	}
	return append(dst, src...)
}

// setOnLine replaces the line callback; nil removes it.
func (o *output) setOnLine(f func(string)) {
	o.mu.Lock()
	o.onLine = f
	o.mu.Unlock()
}

// note appends a harness marker line (for example "restart 2") so a dump
// shows where each run of the process begins.
func (o *output) note(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.line) > 0 {
		o.buf = append(o.buf, '\n')
		o.line = o.line[:0]
	}
	o.buf = append(o.buf, "=== fjordtest: "+fmt.Sprintf(format, args...)+" ===\n"...)
}

// String returns the kept output, prefixed by how much was dropped if any.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dropped > 0 {
		return fmt.Sprintf("[... %d earlier bytes dropped ...]\n%s", o.dropped, o.buf)
	}
	return string(o.buf)
}

// tail returns at most n trailing bytes of the kept output.
func (o *output) tail(n int) string {
	s := o.String()
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("[... %d bytes not shown ...]\n%s", len(s)-n, s[len(s)-n:])
}
