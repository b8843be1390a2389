package partition

import (
	"math"
	"slices"
	"sort"

	"github.com/fjordstream/fjord/internal/log"
)

// AbortedTxn is an aborted transaction of a partition (log.AbortedTxn:
// what a segment's transaction index keeps).
type AbortedTxn = log.AbortedTxn

// txnState follows a partition's transactions from its batches: the first
// offset of each producer's ongoing transaction, which the last stable
// offset waits for, and the aborted transactions still in the log. It is a
// pure state machine (no I/O, no locks): the partition feeds it every
// transactional data batch and every marker, in offset order.
//
// Invariants: a producer has at most one ongoing transaction, started by
// its first transactional batch after a marker; the last stable offset is
// never above the first offset of a transaction that is ongoing, or whose
// marker is not yet below the high watermark (Kafka's
// firstUnstableOffset: a marker not replicated may be truncated, and the
// transaction then ongoing again); aborted is in LastOffset order. Not
// wired yet (issue 12): transactional batches are still refused at
// produce. The aborted list is then to live in the segments' .txnindex
// files, with this as a bounded cache of the latest.
type txnState struct {
	ongoing map[int64]int64 // producer ID -> first offset of its ongoing transaction
	// unreplicated are the ended transactions whose marker is not yet
	// below the high watermark, in marker order.
	unreplicated []endedTxn
	aborted      []AbortedTxn
}

// endedTxn is a transaction whose marker is written.
type endedTxn struct{ first, marker int64 }

func newTxnState() txnState { return txnState{ongoing: map[int64]int64{}} }

// data records a transactional data batch of producerID at firstOffset: it
// starts the producer's transaction unless one is ongoing.
func (s *txnState) data(producerID, firstOffset int64) {
	if _, ok := s.ongoing[producerID]; !ok {
		s.ongoing[producerID] = firstOffset
	}
}

// marker records producerID's marker at offset: its ongoing transaction
// ends. An abort returns the aborted transaction (ok) to index; a commit,
// or a marker with no transaction ongoing (a retried marker, or one for a
// transaction that wrote nothing here), returns ok false.
func (s *txnState) marker(producerID int64, commit bool, offset int64) (AbortedTxn, bool) {
	first, ongoing := s.ongoing[producerID]
	delete(s.ongoing, producerID)
	if ongoing {
		s.unreplicated = append(s.unreplicated, endedTxn{first, offset})
	}
	if commit || !ongoing {
		return AbortedTxn{}, false
	}
	// The last stable offset once this one is stable: the next unstable
	// transaction's first offset, or past this marker.
	s.unreplicated = s.unreplicated[:len(s.unreplicated)-1]
	a := AbortedTxn{ProducerID: producerID, FirstOffset: first, LastOffset: offset, LastStableOffset: min(s.firstUnstable(), offset+1)}
	s.unreplicated = append(s.unreplicated, endedTxn{first, offset})
	// Markers come in offset order, so this is the last; keep the order
	// anyway for a caller replaying out of order.
	i := sort.Search(len(s.aborted), func(i int) bool { return s.aborted[i].LastOffset > offset })
	s.aborted = slices.Insert(s.aborted, i, a)
	return a, true
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
func (s *txnState) firstUnstable() int64 {
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

// abortedIn returns the aborted transactions with records in [from, to):
// what a read_committed fetch of that range answers. As Kafka's
// collectAbortedTxns, the search ends at the first one whose last stable
// offset reaches to: every transaction with records below to had ended,
// and was indexed, by then.
func (s *txnState) abortedIn(from, to int64) []AbortedTxn {
	var out []AbortedTxn
	i := sort.Search(len(s.aborted), func(i int) bool { return s.aborted[i].LastOffset >= from })
	for ; i < len(s.aborted); i++ {
		a := s.aborted[i]
		if a.FirstOffset < to {
			out = append(out, a)
		}
		if a.LastStableOffset >= to {
			break
		}
	}
	return out
}

// trimBefore forgets the aborted transactions wholly below logStart:
// retention or DeleteRecords removed them.
func (s *txnState) trimBefore(logStart int64) {
	i := sort.Search(len(s.aborted), func(i int) bool { return s.aborted[i].LastOffset >= logStart })
	s.aborted = slices.Delete(s.aborted, 0, i)
}
