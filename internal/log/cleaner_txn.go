package log

import (
	"sort"

	"github.com/fjordstream/fjord/internal/record"
)

// How a clean treats transactions (Kafka's CleanedTransactionMetadata):
//   - the records of aborted transactions are removed, and never mapped
//     as a key's newest value (a read_committed consumer must still find
//     the committed value they would have replaced); a removed batch that
//     is its producer's last is kept empty, as any other;
//   - committed transactions' records are compacted like any others;
//   - a transaction marker stays while any batch of its transaction is
//     still in the log (a replay must see the transaction end); once none
//     is, the first clean to see that gives the marker a delete horizon
//     (now + delete.retention.ms, KIP-534 for markers as for tombstones),
//     and a clean past the horizon drops it;
//   - an aborted transaction stays in the cleaned segment's transaction
//     index while its marker and some of its batches are kept, so a
//     read_committed consumer still drops what is left of it.
//
// The partition bounds the clean by its last stable offset, so no
// transaction in the cleaned range is open.

// cleanTxns is what one clean knows of the transactions in its range.
type cleanTxns struct {
	// aborted are the aborted transactions with records in the range,
	// by producer, in offset order (a producer's never overlap).
	aborted map[int64][]AbortedTxn
	// seen marks, per producer, that a batch of its current transaction
	// was read since its last marker: committed (or not aborted) ones in
	// open, aborted ones in abortSeen.
	open, abortSeen map[int64]bool
}

func newCleanTxns(aborted []AbortedTxn) *cleanTxns {
	t := &cleanTxns{aborted: map[int64][]AbortedTxn{}, open: map[int64]bool{}, abortSeen: map[int64]bool{}}
	for _, a := range aborted {
		t.aborted[a.ProducerID] = append(t.aborted[a.ProducerID], a)
	}
	for _, as := range t.aborted {
		sort.Slice(as, func(i, j int) bool { return as[i].FirstOffset < as[j].FirstOffset })
	}
	return t
}

// abortedAt returns producerID's aborted transaction spanning offset.
func (t *cleanTxns) abortedAt(producerID, offset int64) (AbortedTxn, bool) {
	as := t.aborted[producerID]
	i := sort.Search(len(as), func(i int) bool { return as[i].LastOffset >= offset })
	if i < len(as) && as[i].FirstOffset <= offset {
		return as[i], true
	}
	return AbortedTxn{}, false
}

// abortedData reports whether a data batch belongs to an aborted
// transaction (stateless: for the key map too).
func (t *cleanTxns) abortedData(h record.Header) bool {
	if !h.IsTransactional() || h.IsControl() {
		return false
	}
	_, ok := t.abortedAt(h.ProducerID, h.BaseOffset)
	return ok
}

// onData notes a data batch read by the rewrite, in log order, and
// reports whether its records go (an aborted transaction's).
func (t *cleanTxns) onData(h record.Header) bool {
	if !h.IsTransactional() {
		return false
	}
	if t.abortedData(h) {
		t.abortSeen[h.ProducerID] = true
		return true
	}
	t.open[h.ProducerID] = true
	return false
}

// onMarker notes producerID's marker at offset, in log order: seen reports
// whether a batch of the transaction it ends was read (the marker stays);
// an abort with batches seen also returns its index entry to keep.
func (t *cleanTxns) onMarker(producerID int64, commit bool, offset int64) (seen bool, keep AbortedTxn, indexed bool) {
	if commit {
		seen = t.open[producerID]
		delete(t.open, producerID)
		return seen, AbortedTxn{}, false
	}
	seen = t.abortSeen[producerID]
	delete(t.abortSeen, producerID)
	a, ok := t.abortedAt(producerID, offset)
	return seen, a, ok && seen
}

// filterMarker emits what is kept of the control batch b: a transaction
// marker whose transaction still has batches is kept as it is (an abort's
// index entry with it); one without gets a delete horizon, then goes once
// the horizon passed. Other control batches are kept.
func (c *cleaner) filterMarker(h record.Header, b []byte, emit func([]byte) error) error {
	if !h.IsTransactional() || !h.HasProducerID() {
		return emit(b)
	}
	m, err := record.ParseMarker(b)
	if err != nil {
		return emit(b) // not a marker this clean understands: kept
	}
	seen, a, indexed := c.txns.onMarker(h.ProducerID, m.Commit, h.BaseOffset)
	if indexed {
		c.groupTxns = append(c.groupTxns, a)
	}
	switch {
	case seen:
		return emit(b)
	case hasDeleteHorizon(h) && c.now >= h.BaseTimestamp:
		c.st.MarkersRemoved++
		return nil
	case hasDeleteHorizon(h):
		return emit(b)
	}
	_, recs, err := record.Records(b)
	if err != nil {
		return err
	}
	return emit(rebuildRun(h, recs, c.newHorizon))
}
