package metadata

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Publisher reacts to committed metadata: it is handed each delta with the
// image it produced, in log order, one at a time.
type Publisher interface {
	Publish(d *Delta, img *Image)
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(d *Delta, img *Image)

// Publish implements Publisher.
func (f PublisherFunc) Publish(d *Delta, img *Image) { f(d, img) }

// Loader holds a node's current image and turns committed record batches
// into deltas for the publishers. Readers load the image without locking;
// Apply calls are serialised, so publishers see deltas one at a time and in
// order, each image exactly once.
type Loader struct {
	mu   sync.Mutex // serialises Apply and Subscribe
	img  atomic.Pointer[Image]
	pubs []Publisher

	waitMu  sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced after each new image
}

// NewLoader starts from img.
func NewLoader(img *Image) *Loader {
	l := &Loader{changed: make(chan struct{})}
	l.img.Store(img)
	return l
}

// Image returns the current image.
func (l *Loader) Image() *Image { return l.img.Load() }

// Subscribe adds a publisher; it sees the deltas applied after it.
func (l *Loader) Subscribe(p Publisher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pubs = append(l.pubs, p)
}

// SubscribeReplaying adds a publisher and first hands it, under the same
// lock as every later delta, the delta that builds the current image from
// an empty one: a component that starts after the metadata was replayed
// catches up with no delta missed, repeated or seen out of order.
func (l *Loader) SubscribeReplaying(p Publisher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	img := l.img.Load()
	p.Publish(DeltaOf(img), img)
	l.pubs = append(l.pubs, p)
}

// Apply replays a committed batch whose last record is at lastOffset,
// publishes the new image and hands the delta to every publisher. A batch
// that does not fit the image changes nothing and returns ErrInconsistent.
func (l *Loader) Apply(records []Record, lastOffset int64) (*Delta, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := NewDelta(l.img.Load())
	for _, r := range records {
		if err := d.Replay(r); err != nil {
			return nil, fmt.Errorf("metadata offset %d: %w", lastOffset, err)
		}
	}
	d.SetOffset(lastOffset)
	img := d.Apply()
	l.img.Store(img)
	for _, p := range l.pubs {
		p.Publish(d, img)
	}
	l.notify()
	return d, nil
}

// notify wakes WaitFor callers.
func (l *Loader) notify() {
	l.waitMu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.waitMu.Unlock()
}

// WaitFor returns once the image has applied the record at offset (its
// Offset is at least offset), or when ctx ends.
func (l *Loader) WaitFor(ctx context.Context, offset int64) error {
	for {
		l.waitMu.Lock()
		ch := l.changed
		l.waitMu.Unlock()
		if l.img.Load().Offset >= offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for metadata offset %d (at %d): %w", offset, l.img.Load().Offset, ctx.Err())
		}
	}
}

// ApplySnapshot replaces the image with the one records build from empty
// (a metadata snapshot whose last record is at lastOffset), and publishes
// the difference from the current image as one delta.
func (l *Loader) ApplySnapshot(records []Record, lastOffset int64) (*Delta, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	base := l.img.Load()
	build := NewDelta(NewImage(base.ClusterID))
	for _, r := range records {
		if err := build.Replay(r); err != nil {
			return nil, fmt.Errorf("metadata snapshot at %d: %w", lastOffset, err)
		}
	}
	build.SetOffset(lastOffset)
	next := build.Apply()
	d := diff(base, next)
	l.img.Store(next)
	for _, p := range l.pubs {
		p.Publish(d, next)
	}
	l.notify()
	return d, nil
}
