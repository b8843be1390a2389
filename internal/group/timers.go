package group

import (
	"container/heap"
	"time"
)

type timerKind uint8

const (
	// timerHeartbeat expires a member's session (or a pending member's, or
	// a new member's parked JoinGroup).
	timerHeartbeat timerKind = iota
	// timerJoin ends the join phase of a group (rebalance timeout, or the
	// initial rebalance delay).
	timerJoin
	// timerSync removes members that did not send SyncGroup in time.
	timerSync
	// timerRetention runs offset expiration for the whole partition.
	timerRetention
	// timerConsumerSession expires a consumer group member's session.
	timerConsumerSession
	// timerConsumerRevocation fences a consumer group member that kept
	// partitions it had to revoke past its rebalance timeout.
	timerConsumerRevocation
)

// timerKey names a timer; scheduling a key again moves it, as Kafka's
// coordinator timer does.
type timerKey struct {
	kind   timerKind
	group  string
	member string
}

type timerEntry struct {
	key        timerKey
	at         time.Time
	seq        uint64 // scheduling order: ties fire first-scheduled first
	generation int32  // timerSync: the generation it was armed for
	index      int
}

// timers is a min-heap of deadlines keyed by timerKey.
type timers struct {
	h     timerHeap
	byKey map[timerKey]*timerEntry
	seq   uint64
}

func (t *timers) schedule(key timerKey, at time.Time, generation int32) {
	if t.byKey == nil {
		t.byKey = make(map[timerKey]*timerEntry)
	}
	t.seq++
	if e, ok := t.byKey[key]; ok {
		e.at, e.seq, e.generation = at, t.seq, generation
		heap.Fix(&t.h, e.index)
		return
	}
	e := &timerEntry{key: key, at: at, seq: t.seq, generation: generation}
	t.byKey[key] = e
	heap.Push(&t.h, e)
}

func (t *timers) cancel(key timerKey) {
	if e, ok := t.byKey[key]; ok {
		heap.Remove(&t.h, e.index)
		delete(t.byKey, key)
	}
}

func (t *timers) at(key timerKey) (time.Time, bool) {
	e, ok := t.byKey[key]
	if !ok {
		return time.Time{}, false
	}
	return e.at, true
}

func (t *timers) next() time.Time {
	if len(t.h) == 0 {
		return time.Time{}
	}
	return t.h[0].at
}

// popDue removes and returns the earliest timer due at now that was
// scheduled no later than maxSeq (timers armed while a Tick runs wait for
// the next Tick, so that a Tick always ends).
func (t *timers) popDue(now time.Time, maxSeq uint64) (timerEntry, bool) {
	if len(t.h) == 0 || t.h[0].at.After(now) || t.h[0].seq > maxSeq {
		return timerEntry{}, false
	}
	e := heap.Pop(&t.h).(*timerEntry)
	delete(t.byKey, e.key)
	return *e, true
}

type timerHeap []*timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
