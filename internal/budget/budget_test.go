package budget

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStrict_WaitsForRoomAndRefusesTheImpossible(t *testing.T) {
	p := NewStrict(10)
	if err := p.Acquire(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	if p.TryAcquire(3) {
		t.Fatal("a strict pool admitted 3 with 2 left")
	}
	got := make(chan error, 1)
	go func() { got <- p.Acquire(context.Background(), 3) }()
	select {
	case err := <-got:
		t.Fatalf("acquired with no room: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.Release(8)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a release did not wake the waiter")
	}
	if p.Used() != 3 {
		t.Fatalf("used %d, want 3", p.Used())
	}
	if err := p.Acquire(context.Background(), 11); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a charge over the capacity: %v, want ErrTooLarge", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Acquire(ctx, 8); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the context: %v", err)
	}
}

func TestLenient_AdmitsWhileUnderCapacity(t *testing.T) {
	p := NewLenient(10)
	if !p.TryAcquire(25) {
		t.Fatal("an empty lenient pool refused a charge larger than its capacity")
	}
	if p.TryAcquire(1) {
		t.Fatal("a lenient pool over its capacity admitted more")
	}
	p.Release(20)
	if !p.TryAcquire(100) {
		t.Fatal("a lenient pool under its capacity refused")
	}
	p.Release(105)
	if p.Used() != 0 {
		t.Fatalf("used %d after releasing everything", p.Used())
	}
}

func TestNil_IsUnlimited(t *testing.T) {
	var p *Pool
	if !p.TryAcquire(1<<40) || p.Acquire(context.Background(), 1<<40) != nil {
		t.Fatal("a nil pool refused")
	}
	p.Release(1 << 40)
}
