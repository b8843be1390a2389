package server

import (
	"context"
	"net"
	"net/netip"
	"sync"

	"github.com/fjordstream/fjord/internal/budget"
)

// RequestBudget is what a listener's requests are charged to while they
// are read and handled: bytes (queued.max.request.bytes, less the share set
// aside for decompression) and slots (queued.max.requests). Within Bytes,
// one client address may hold at most a quarter (plus one request): a few
// connections from one address sending requests slowly cannot hold the
// whole budget and stop every other client's requests from being read. A
// nil pool is unbounded.
type RequestBudget struct {
	Bytes *budget.Pool
	Slots *budget.Pool

	shares *ipShares // nil when Bytes is unbounded
}

// NewRequestBudget returns a budget over bytes and slots.
func NewRequestBudget(bytes, slots *budget.Pool) *RequestBudget {
	rb := &RequestBudget{Bytes: bytes, Slots: slots}
	if bytes != nil {
		rb.shares = &ipShares{capacity: max(bytes.Capacity()/4, 1<<20), byIP: map[netip.Addr]*ipShare{}}
	}
	return rb
}

// ipShares are the per-address pools of one RequestBudget, each kept while
// a connection from its address is open.
type ipShares struct {
	capacity int64
	mu       sync.Mutex
	byIP     map[netip.Addr]*ipShare
}

type ipShare struct {
	pool *budget.Pool
	ip   netip.Addr
	refs int // guarded by ipShares.mu
}

// share returns the pool of remote's address for one more connection;
// nil when there is none (unbounded, or not an IP address).
func (rb *RequestBudget) share(remote net.Addr) *ipShare {
	if rb == nil || rb.shares == nil {
		return nil
	}
	ta, ok := remote.(*net.TCPAddr)
	if !ok {
		return nil
	}
	ip := ta.AddrPort().Addr().Unmap()
	s := rb.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.byIP[ip]
	if sh == nil {
		sh = &ipShare{pool: budget.NewLenient(s.capacity), ip: ip}
		s.byIP[ip] = sh
	}
	sh.refs++
	return sh
}

// unshare gives back what share took, when the connection ends.
func (rb *RequestBudget) unshare(sh *ipShare) {
	if sh == nil {
		return
	}
	s := rb.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.refs--; sh.refs == 0 {
		delete(s.byIP, sh.ip)
	}
}

// held is one request's charge to a budget, given back by release.
type held struct {
	rb    *RequestBudget
	share *ipShare
	bytes int64
	slot  bool
}

// acquire charges a request of n bytes from a connection holding share:
// a slot, then the address's share, then the listener's bytes, waiting
// while any is spent.
func (rb *RequestBudget) acquire(ctx context.Context, share *ipShare, n int64) (held, error) {
	h := held{rb: rb, share: share}
	if rb == nil {
		return h, nil
	}
	if err := rb.Slots.Acquire(ctx, 1); err != nil {
		return h, err
	}
	h.slot = true
	if share != nil {
		if err := share.pool.Acquire(ctx, n); err != nil {
			h.release()
			return held{}, err
		}
	}
	if err := rb.Bytes.Acquire(ctx, n); err != nil {
		if share != nil {
			share.pool.Release(n)
		}
		h.release()
		return held{}, err
	}
	h.bytes = n
	return h, nil
}

// force adds n bytes that are in memory already (a request's decoded
// structure), without waiting: the budget then stops further reads.
func (h *held) force(n int64) {
	if h.rb == nil || n <= 0 {
		return
	}
	h.rb.Bytes.Force(n)
	if h.share != nil {
		h.share.pool.Force(n)
	}
	h.bytes += n
}

// releaseSlot gives back the slot only (the request has been handled).
func (h *held) releaseSlot() {
	if h.slot {
		h.rb.Slots.Release(1)
		h.slot = false
	}
}

// releaseBytes gives back the bytes only.
func (h *held) releaseBytes() {
	if h.bytes == 0 {
		return
	}
	h.rb.Bytes.Release(h.bytes)
	if h.share != nil {
		h.share.pool.Release(h.bytes)
	}
	h.bytes = 0
}

// release gives back everything still held; later calls do nothing.
func (h *held) release() {
	h.releaseSlot()
	h.releaseBytes()
}
