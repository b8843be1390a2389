package partition

import (
	"fmt"
	"math"
	"time"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/record"
)

// The partition's side of transactions (KIP-98): transactional batches
// start a producer's transaction here, a marker written by the
// transaction coordinator (WriteTxnMarkers) ends it, and read_committed
// consumers read below the last stable offset, told which aborted
// transactions' records to drop. The tracker (txnState) is fed by every
// path that adds batches: the leader's appends (appendIdempotent,
// WriteMarker), the follower's copies and the replay that rebuilds state
// at open and after a truncation (observeBatch). Aborted transactions go
// to the log's transaction index; the ongoing ones are in the producer
// snapshot, so recovery replays one segment at most.

// InTransaction reports whether producerID has a transaction open here
// (its first transactional batch was written, its marker not yet).
func (p *Partition) InTransaction(producerID int64) bool {
	return p.inTransaction(producerID)
}

// VerificationGuard starts the verification of producerID's next
// transaction here (KIP-890 part 1, Kafka's VerificationGuard): it
// returns a token to present to AllowTransaction once the transaction's
// coordinator has said the transaction is ongoing and holds this
// partition. A marker for the producer in between (its transaction ended:
// a timeout, a fencing) withdraws the token, so a write delayed past its
// transaction's end cannot open it again as a hanging transaction.
//
// The guard is for a write at epoch. Under KIP-890 part 2 (tv2) the
// previous transaction's markers carry the epoch the next one writes
// with, so a marker at that very epoch ends the previous transaction, not
// this one, and leaves the guard (Kafka's isV2NextTransactionStarted).
func (p *Partition) VerificationGuard(producerID int64, epoch int16, tv2 bool) uint64 {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	if g, ok := p.guards[producerID]; ok && g.want == epoch && g.tv2 == tv2 {
		// A verification in flight (a retry on another connection):
		// both may complete, as Kafka reuses the guard.
		return g.token
	}
	if len(p.guards) >= maxProducers {
		clear(p.guards) // stale guards of producers that never wrote
	}
	p.guardSeq++
	p.guards[producerID] = txnGuard{token: p.guardSeq, epoch: -1, want: epoch, tv2: tv2}
	return p.guardSeq
}

// ProducerEpoch returns the newest epoch the partition has seen from
// producerID (ok false when it has no state for it).
func (p *Partition) ProducerEpoch(producerID int64) (int16, bool) {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	e := p.producers.m[producerID]
	if e == nil {
		return 0, false
	}
	return e.epoch, true
}

// AllowTransaction lets producerID at epoch open a transaction here with
// its next transactional batch, if token (VerificationGuard's) is still
// the producer's: false when a marker withdrew it meanwhile.
func (p *Partition) AllowTransaction(producerID int64, epoch int16, token uint64) bool {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	g, ok := p.guards[producerID]
	if !ok || g.token != token {
		return false
	}
	g.epoch = epoch
	p.guards[producerID] = g
	return true
}

// txnGuard is a producer's verification in progress (epoch -1) or done
// (epoch: the epoch allowed), for a write at want.
type txnGuard struct {
	token uint64
	epoch int16
	want  int16
	tv2   bool // a KIP-890 part 2 write: a marker at want leaves it
}

// joinsOpenTransaction checks a batch of producerID at epoch against its
// open transaction here: a non-transactional batch cannot join it, nor can
// a newer epoch's batch, which belongs to the producer's next transaction
// (KIP-890 part 2 bumps the epoch per transaction) while the older one's
// marker has not come yet. Caller holds produceMu.
func (p *Partition) joinsOpenTransaction(producerID int64, epoch int16, transactional bool) error {
	if !transactional {
		return fmt.Errorf("%w: producer %d sent a non-transactional batch with a transaction ongoing", ErrInvalidTxnState, producerID)
	}
	if e := p.producers.m[producerID]; e != nil && epoch != e.epoch {
		return fmt.Errorf("%w: producer %d epoch %d while its transaction of epoch %d is open here", ErrInvalidTxnState, producerID, epoch, e.epoch)
	}
	return nil
}

// inTransaction reports whether producerID has a transaction ongoing here.
func (p *Partition) inTransaction(producerID int64) bool {
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	_, ok := p.txns.ongoing[producerID]
	return ok
}

// WriteMarker ends producerID's transaction on this partition with a
// transaction marker (commit or abort) written by the coordinator at
// coordinatorEpoch, stamped now, as the partition's leader. It is refused
// with ErrInvalidProducerEpoch for an epoch older than the producer's,
// ErrCoordinatorFenced for an older coordinator, ErrNotLeader off the
// leader. A marker for a transaction that wrote nothing here (or a retry
// of one already written) is written anyway, as Kafka does. The returned
// Pending is awaited as Append's is (acks=all).
func (p *Partition) WriteMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, now time.Time) (Pending, error) {
	if producerID < 0 || epoch < 0 {
		return Pending{}, fmt.Errorf("partition %s: %w: marker for producer %d epoch %d", p.ID, record.ErrInvalidRecord, producerID, epoch)
	}
	m := record.Marker{Commit: commit, CoordinatorEpoch: coordinatorEpoch}
	batch := record.BuildMarker(m, producerID, epoch, now.UnixMilli())
	p.leaderMu.RLock()
	defer p.leaderMu.RUnlock()
	if err := p.checkLeader(-1); err != nil {
		return Pending{}, err
	}
	p.produceMu.Lock()
	if err := p.producers.checkMarker(producerID, epoch, coordinatorEpoch); err != nil {
		p.produceMu.Unlock()
		return Pending{}, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	info, err := p.log.Append(batch, p.LeaderEpoch(), -1)
	if err != nil {
		p.produceMu.Unlock()
		return Pending{}, fmt.Errorf("partition %s: %w", p.ID, err)
	}
	p.applyMarker(producerID, epoch, m, info.BaseOffset, now.UnixMilli())
	if info.Rolled {
		if err := p.snapshotLocked(); err != nil {
			p.logger.Warn("writing producer state snapshot failed; recovery will replay more of the log", "err", err)
		}
	}
	p.produceMu.Unlock()
	return p.pending(info, false), nil
}

// applyMarker applies a marker at offset to the producer and transaction
// state, indexing an aborted transaction. Caller holds produceMu.
func (p *Partition) applyMarker(producerID int64, epoch int16, m record.Marker, offset, nowMs int64) {
	p.producers.applyMarker(producerID, epoch, m.CoordinatorEpoch, nowMs)
	if g, ok := p.guards[producerID]; !ok || !g.tv2 || g.want != epoch {
		delete(p.guards, producerID)
	}
	// The aborted transaction is indexed before it leaves the open ones
	// (under txnMu, which the last stable offset is read under): a
	// read_committed fetch never reads its records without the entry
	// that drops them.
	p.txnMu.Lock()
	a, aborted := p.txns.marker(producerID, m.Commit, offset)
	if aborted {
		if err := p.log.AddAbortedTxn(a); err != nil {
			// Only a log failure (or a bug) gets here; the next open
			// re-derives the index past its snapshot.
			p.logger.Error("indexing an aborted transaction failed", "producer_id", producerID, "marker_offset", offset, "err", err)
		}
	}
	p.txnMu.Unlock()
	p.dirty = true
}

// observeBatch applies a batch already in the log (a follower's copy, or
// one replayed at open or after a truncation) to the producer and
// transaction state: batch is the whole batch, or nil when only its header
// was read (then it is not a marker). nowMs is the producers' last write
// time to record. Caller holds produceMu.
func (p *Partition) observeBatch(h record.Header, batch []byte, nowMs int64) {
	if !h.HasProducerID() {
		return
	}
	if h.IsControl() {
		if !h.IsTransactional() || batch == nil {
			return
		}
		m, err := record.ParseMarker(batch)
		if err != nil {
			p.logger.Warn("unreadable transaction marker", "offset", h.BaseOffset, "err", err)
			return
		}
		p.applyMarker(h.ProducerID, h.ProducerEpoch, m, h.BaseOffset, nowMs)
		return
	}
	if h.BaseSequence < 0 {
		return
	}
	appendTime := int64(-1) // LogAppendTime batches answer retries with it
	if h.TimestampType() == record.LogAppendTime {
		appendTime = h.MaxTimestamp
	}
	p.producers.apply(producerBatchOf(h), h.BaseOffset, h.LastOffset(), appendTime, nowMs)
	if h.IsTransactional() {
		p.txnMu.Lock()
		p.txns.data(h.ProducerID, h.BaseOffset)
		p.txnMu.Unlock()
	}
	p.dirty = true
}

// firstUnstableOffset is the first offset of the oldest transaction open
// here or whose marker is not yet replicated (MaxInt64 when none): what
// retention and DeleteRecords stop at. Caller holds produceMu, so no
// transaction opens meanwhile.
func (p *Partition) firstUnstableOffset() int64 {
	hw := p.HighWatermark()
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	p.txns.highWatermark(hw)
	return p.txns.firstUnstable()
}

// LastStableOffset is the offset below which every transaction has ended
// and its marker is replicated: read_committed consumers read below it
// (the high watermark when no transaction is open).
func (p *Partition) LastStableOffset() int64 {
	hw := p.HighWatermark()
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	p.txns.highWatermark(hw)
	return p.txns.lastStable(hw)
}

// AbortedTxns returns the aborted transactions with records in [from, to):
// what a read_committed fetch of that range answers.
func (p *Partition) AbortedTxns(from, to int64) []log.AbortedTxn {
	return p.log.AbortedTxns(from, to)
}

// ReadCommittedSlices is ReadSlices for a read_committed consumer: below
// the last stable offset, which it returns with the slices.
func (p *Partition) ReadCommittedSlices(offset int64, maxBytes int32, minOneBatch bool) (*log.FileSlices, int64, error) {
	lso := p.LastStableOffset()
	if err := p.offline(); err != nil {
		return nil, lso, err
	}
	fs, err := p.log.ReadSlices(offset, maxBytes, lso, minOneBatch)
	return fs, lso, err
}

// holdStableBelow keeps the last stable offset at or below the first
// transactional data batch of batches (a follower's copy) until
// releaseStable: the transactions they open or go on with are registered
// only as the batches are observed after the append, in log order with
// their markers, and the high watermark (the leader's) may cover them
// meanwhile. Caller holds produceMu.
func (p *Partition) holdStableBelow(batches []byte) {
	floor := int64(math.MaxInt64)
	for b := batches; len(b) >= record.HeaderSize; {
		h, err := record.PeekHeader(b)
		if err != nil || h.Size() <= 0 || h.Size() > int64(len(b)) {
			break
		}
		if h.HasProducerID() && h.IsTransactional() && !h.IsControl() {
			floor = h.BaseOffset
			break
		}
		b = b[h.Size():]
	}
	p.txnMu.Lock()
	p.txns.floor = floor
	p.txnMu.Unlock()
}

// releaseStable ends holdStableBelow. Caller holds produceMu.
func (p *Partition) releaseStable() {
	p.txnMu.Lock()
	p.txns.floor = math.MaxInt64
	p.txnMu.Unlock()
}
