// Package budget bounds the memory a node spends on what clients send it:
// request frames read from sockets and the buffers that inflate compressed
// batches for validation. A Pool is a counting semaphore over bytes (or
// requests) shared by every connection of a node.
//
// Invariants: used never goes negative; a strict pool never lets used pass
// its capacity by admitting (Force, for memory already taken, may); a
// lenient pool admits only while used is under its capacity, so admitting
// passes the capacity by less than the largest single charge (Kafka's memory pool for queued.max.request.bytes behaves the same
// way, so one frame larger than the whole budget is still served).
package budget

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrTooLarge is returned by a strict pool for a charge above its capacity:
// waiting would never help.
var ErrTooLarge = errors.New("charge larger than the whole budget")

// Pool is a budget of capacity units. A nil *Pool is unlimited: every
// method is a no-op, so components built without a budget (tests, tools)
// need no special case.
type Pool struct {
	capacity int64
	strict   bool

	mu   sync.Mutex
	used int64
	// freed, when not nil, is closed by the next release: waiters watch
	// it. It is made only when someone waits, so an uncontended pool
	// does not allocate.
	freed chan struct{}
}

// NewStrict returns a pool that admits a charge only when it fits whole.
// Fit for charges far smaller than the capacity (decompression buffers).
func NewStrict(capacity int64) *Pool {
	return &Pool{capacity: capacity, strict: true}
}

// NewLenient returns a pool that admits any charge while its use is under
// capacity. Fit for charges that may be as large as the capacity itself
// (request frames): a strict pool would starve them behind small ones.
func NewLenient(capacity int64) *Pool {
	return &Pool{capacity: capacity}
}

// Capacity returns the pool's capacity; 0 for a nil pool.
func (p *Pool) Capacity() int64 {
	if p == nil {
		return 0
	}
	return p.capacity
}

// Used returns the units charged now.
func (p *Pool) Used() int64 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// TryAcquire charges n units if the pool admits them now.
func (p *Pool) TryAcquire(n int64) bool {
	if p == nil || n <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.fits(n) {
		return false
	}
	p.used += n
	return true
}

// Acquire charges n units, waiting until the pool admits them or ctx ends.
func (p *Pool) Acquire(ctx context.Context, n int64) error {
	if p == nil || n <= 0 {
		return nil
	}
	if p.strict && n > p.capacity {
		return fmt.Errorf("%w: %d of %d", ErrTooLarge, n, p.capacity)
	}
	for {
		p.mu.Lock()
		if p.fits(n) {
			p.used += n
			p.mu.Unlock()
			return nil
		}
		if p.freed == nil {
			p.freed = make(chan struct{})
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Force charges n units at once, whether or not the pool admits them: for
// memory already taken (a decoded request), so that the pool stops
// admitting more until it is released.
func (p *Pool) Force(n int64) {
	if p == nil || n <= 0 {
		return
	}
	p.mu.Lock()
	p.used += n
	p.mu.Unlock()
}

// Release returns n units charged before.
func (p *Pool) Release(n int64) {
	if p == nil || n <= 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	if p.used < 0 {
		p.mu.Unlock()
		panic("budget: released more than was charged")
	}
	if p.freed != nil {
		close(p.freed)
		p.freed = nil
	}
	p.mu.Unlock()
}

func (p *Pool) fits(n int64) bool {
	if p.strict {
		return p.used+n <= p.capacity
	}
	return p.used < p.capacity
}
