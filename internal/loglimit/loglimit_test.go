package loglimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := New()
	t0 := time.Unix(0, 0)
	if ok, n := l.Allow("a", t0); !ok || n != 0 {
		t.Fatalf("first line: %v %d", ok, n)
	}
	for i := range 5 {
		if ok, _ := l.Allow("a", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatalf("repeat %d within %v let through", i, Every)
		}
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("another key held back")
	}
	if ok, n := l.Allow("a", t0.Add(Every)); !ok || n != 5 {
		t.Fatalf("after %v: %v, %d suppressed; want true, 5", Every, ok, n)
	}
}
