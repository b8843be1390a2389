package partition

import (
	"errors"
	"sync"
)

// Event names what a delayed operation waits for on a partition: consumers
// wait for the high watermark (what they may read), followers for the log
// end offset (what they may copy), acks=all produces for the high watermark
// to pass their batch.
type Event uint8

const (
	// HighWatermarkMoved fires when a replica's high watermark advances.
	HighWatermarkMoved Event = 1 << iota
	// LogEndMoved fires when records are appended to a replica's log.
	LogEndMoved
)

// ErrTooManyWaiters is returned by Watch when the registry is full.
var ErrTooManyWaiters = errors.New("too many delayed operations")

// Delayed is the registry of delayed operations (Kafka's purgatory): fetch
// long-polls and acks=all produces parked until a partition they name
// changes. It is keyed by partition, so an append wakes only the operations
// that name that partition, never every parked request.
//
// Invariant: a waiter registered before it reads a partition's state is
// woken by every later change of that state (the wake channel holds one
// pending signal, so a change between the read and the wait is not lost).
// The number of waiters is bounded (maxWaiters).
type Delayed struct {
	mu      sync.Mutex // guards byKey and count
	byKey   map[ID]map[*Waiter]struct{}
	count   int
	maxWait int
}

// NewDelayed returns a registry holding at most maxWaiters parked
// operations (0 means 100,000).
func NewDelayed(maxWaiters int) *Delayed {
	if maxWaiters <= 0 {
		maxWaiters = 100_000
	}
	return &Delayed{byKey: map[ID]map[*Waiter]struct{}{}, maxWait: maxWaiters}
}

// Waiter is one parked operation: its channel receives a signal when one
// of the partitions it watches fires one of its events.
type Waiter struct {
	events Event
	keys   []ID
	ch     chan struct{}
}

// C is signalled (at most one pending signal) on a watched change.
func (w *Waiter) C() <-chan struct{} { return w.ch }

// Watch registers a waiter for events on keys. The caller must Cancel it.
func (d *Delayed) Watch(events Event, keys []ID) (*Waiter, error) {
	w := &Waiter{events: events, keys: keys, ch: make(chan struct{}, 1)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.count >= d.maxWait {
		return nil, ErrTooManyWaiters
	}
	d.count++
	for _, k := range keys {
		m := d.byKey[k]
		if m == nil {
			m = map[*Waiter]struct{}{}
			d.byKey[k] = m
		}
		m[w] = struct{}{}
	}
	return w, nil
}

// Cancel removes a waiter; safe to call more than once and on nil.
func (d *Delayed) Cancel(w *Waiter) {
	if w == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.keys == nil {
		return
	}
	for _, k := range w.keys {
		if m := d.byKey[k]; m != nil {
			delete(m, w)
			if len(m) == 0 {
				delete(d.byKey, k)
			}
		}
	}
	w.keys = nil
	d.count--
}

// Notify wakes the waiters on key that wait for ev.
func (d *Delayed) Notify(key ID, ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for w := range d.byKey[key] {
		if w.events&ev == 0 {
			continue
		}
		select {
		case w.ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// Len returns the number of parked operations.
func (d *Delayed) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count
}
