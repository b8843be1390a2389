package server

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter()
	t0 := time.Unix(0, 0)
	if ok, n := l.allow("a", t0); !ok || n != 0 {
		t.Fatalf("first line: %v %d", ok, n)
	}
	for i := range 5 {
		if ok, _ := l.allow("a", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatalf("repeat %d within %v let through", i, logEvery)
		}
	}
	if ok, _ := l.allow("b", t0); !ok {
		t.Fatal("another key held back")
	}
	if ok, n := l.allow("a", t0.Add(logEvery)); !ok || n != 5 {
		t.Fatalf("after %v: %v, %d suppressed; want true, 5", logEvery, ok, n)
	}
}
