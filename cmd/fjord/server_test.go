package main

import (
	"context"
	"errors"
	"testing"
)

type fakeNode struct {
	failed chan struct{}
	err    error
}

func (f *fakeNode) Failed() <-chan struct{} { return f.failed }
func (f *fakeNode) Err() error              { return f.err }

// A node that fails on its own (a failed log directory) makes `fjord
// server` return its error, which exits 1; a signal is a clean stop.
func TestWaitStop(t *testing.T) {
	boom := errors.New("node 1: the log directory failed")
	f := &fakeNode{failed: make(chan struct{}), err: boom}
	close(f.failed)
	if err := waitStop(context.Background(), f); !errors.Is(err, boom) {
		t.Fatalf("failed node: %v, want %v", err, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := waitStop(ctx, &fakeNode{failed: make(chan struct{})}); err != nil {
		t.Fatalf("signal: %v, want a clean stop", err)
	}
}
