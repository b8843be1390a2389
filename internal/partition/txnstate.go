package partition

import (
	"math"
	"slices"

	"github.com/fjordstream/fjord/internal/log"
)

// AbortedTxn is an aborted transaction of a partition (log.AbortedTxn:
// what a segment's transaction index keeps).
type AbortedTxn = log.AbortedTxn

// txnState follows a partition's transactions from its batches: the first
// offset of each producer's ongoing transaction, which the last stable
// offset waits for, and the ended ones whose marker is not yet
// replicated. It is a pure state machine (no I/O, no locks): the partition
// feeds it every transactional data batch and every marker, in offset
// order. The aborted transactions it finds go to the log's transaction
// index (log.AddAbortedTxn), which answers read_committed fetches.
//
// Invariants: a producer has at most one ongoing transaction, started by
// its first transactional batch after a marker; the last stable offset is
// never above the first offset of a transaction that is ongoing, or whose
// marker is not yet below the high watermark (Kafka's
// firstUnstableOffset: a marker not replicated may be truncated, and the
// transaction then ongoing again).
type txnState struct {
	ongoing map[int64]int64 // producer ID -> first offset of its ongoing transaction
	// unreplicated are the ended transactions whose marker is not yet
	// below the high watermark, in marker order.
	unreplicated []endedTxn
	// floor holds the last stable offset down while a follower's copy is
	// being appended and observed (MaxInt64 otherwise; not snapshotted).
	floor int64
}

// endedTxn is a transaction whose marker is written.
type endedTxn struct{ first, marker int64 }

func newTxnState() txnState { return txnState{ongoing: map[int64]int64{}, floor: math.MaxInt64} }

// data records a transactional data batch of producerID at firstOffset: it
// starts the producer's transaction unless one is ongoing.
func (s *txnState) data(producerID, firstOffset int64) {
	if _, ok := s.ongoing[producerID]; !ok {
		s.ongoing[producerID] = firstOffset
	}
}

// marker records producerID's marker at offset: its ongoing transaction
// ends. An abort returns the aborted transaction (ok) to index, with the
// last stable offset once it is stable (the next unstable transaction's
// first offset, or past this marker); a commit, or a marker with no
// transaction ongoing (a retried marker, or one for a transaction that
// wrote nothing here), returns ok false.
func (s *txnState) marker(producerID int64, commit bool, offset int64) (AbortedTxn, bool) {
	first, ongoing := s.ongoing[producerID]
	if !ongoing {
		return AbortedTxn{}, false
	}
	delete(s.ongoing, producerID)
	a := AbortedTxn{ProducerID: producerID, FirstOffset: first, LastOffset: offset, LastStableOffset: min(s.firstOpen(), offset+1)}
	s.unreplicated = append(s.unreplicated, endedTxn{first, offset})
	return a, !commit
}

// highWatermark records that the high watermark reached hw: the ended
// transactions whose marker is below it are stable.
func (s *txnState) highWatermark(hw int64) {
	i := 0
	for i < len(s.unreplicated) && s.unreplicated[i].marker < hw {
		i++
	}
	s.unreplicated = slices.Delete(s.unreplicated, 0, i)
}

// firstUnstable is the first offset of the oldest transaction that is
// ongoing or whose marker is not yet replicated, MaxInt64 when none.
func (s *txnState) firstUnstable() int64 { return min(s.floor, s.firstOpen()) }

// firstOpen is firstUnstable without the floor: from the transactions
// alone.
func (s *txnState) firstOpen() int64 {
	first := int64(math.MaxInt64)
	for _, o := range s.ongoing {
		first = min(first, o)
	}
	for _, e := range s.unreplicated {
		first = min(first, e.first)
	}
	return first
}

// lastStable is the last stable offset under high watermark hw: no
// read_committed consumer reads at or past the first offset of an ongoing
// transaction.
func (s *txnState) lastStable(hw int64) int64 { return min(hw, s.firstUnstable()) }
