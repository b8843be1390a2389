package partition

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/fjordstream/fjord/internal/record"
)

// Sentinel errors of idempotent appends. The produce handler turns them
// into Kafka codes.
var (
	// ErrOutOfOrderSequence: the batch's first sequence does not follow
	// the producer's last one (a gap, a duplicate older than the batches
	// kept, or a new epoch not starting at 0).
	// Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER.
	ErrOutOfOrderSequence = record.ErrOutOfOrderSequence
	// ErrInvalidProducerEpoch: the batch's producer epoch is older than
	// the newest epoch seen from its producer ID (a fenced zombie).
	// Kafka: INVALID_PRODUCER_EPOCH.
	ErrInvalidProducerEpoch = record.ErrInvalidProducerEpoch
	// ErrInvalidTxnState: a producer with a transaction ongoing here sent
	// a batch outside it. Kafka: INVALID_TXN_STATE.
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrCoordinatorFenced: a transaction marker from a coordinator epoch
	// older than the producer's last marker's (a coordinator that lost
	// its partition). Kafka: TRANSACTION_COORDINATOR_FENCED.
	ErrCoordinatorFenced = errors.New("transaction coordinator fenced")
)

const (
	// producerBatchesKept is how many of a producer's latest batches are
	// remembered for deduplication: Kafka's NUM_BATCHES_TO_RETAIN, which
	// matches the clients' limit of five in-flight requests per broker
	// for idempotent producers.
	producerBatchesKept = 5
	// maxProducers bounds the producers remembered per partition. Reaching
	// it evicts the producer idle longest (its next batch is then treated
	// like any unknown producer's); producer.id.expiration.ms normally
	// keeps the count far lower.
	maxProducers = 1 << 17
	// noSequence is Kafka's NO_SEQUENCE: no batch seen yet.
	noSequence = -1
)

// producerBatch is the producer part of a batch header: who wrote it and
// which sequences it covers.
type producerBatch struct {
	producerID int64
	epoch      int16
	firstSeq   int32
	lastSeq    int32 // firstSeq + lastOffsetDelta, wrapping past MaxInt32 to 0
}

// producerBatchOf reads the producer fields of a batch header.
func producerBatchOf(h record.Header) producerBatch {
	return producerBatch{
		producerID: h.ProducerID,
		epoch:      h.ProducerEpoch,
		firstSeq:   h.BaseSequence,
		lastSeq:    addSequence(h.BaseSequence, h.LastOffsetDelta),
	}
}

// addSequence returns seq+delta with Kafka's wraparound: sequences run
// from 0 to MaxInt32 and then start again at 0.
func addSequence(seq, delta int32) int32 {
	if seq < 0 || delta <= 0 {
		return seq
	}
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// inSequence reports whether next directly follows last.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || next == 0 && last == math.MaxInt32
}

// batchMetadata is what a producer's appended batch is remembered by: its
// sequences, to recognise a retry, and where it landed, to answer one.
type batchMetadata struct {
	firstSeq, lastSeq int32
	firstOffset       int64
	offsetDelta       int32 // lastOffset - firstOffset
	// appendTime is the LogAppendTime stamped into the batch, -1 for
	// CreateTime topics: a duplicate is answered with it.
	appendTime int64
}

func (b batchMetadata) lastOffset() int64 { return b.firstOffset + int64(b.offsetDelta) }

// producerEntry is the state of one producer ID on one partition.
type producerEntry struct {
	epoch int16
	// batches are the latest appended batches of epoch, oldest first; at
	// most producerBatchesKept.
	batches []batchMetadata
	// lastTimestamp (Unix ms) is when the producer last wrote: the broker
	// clock for live appends, the batch's max timestamp for batches
	// replayed from the log (what Kafka uses throughout).
	// producer.id.expiration.ms counts from it.
	lastTimestamp int64
	// coordinatorEpoch is the transaction coordinator's epoch on the
	// producer's last marker, -1 before any: older ones are fenced.
	coordinatorEpoch int32
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return noSequence
	}
	return e.batches[len(e.batches)-1].lastSeq
}

// producerStates is the idempotence state of one partition: per producer
// ID, its epoch and its last batches. It is a pure state machine (no I/O,
// no clock of its own, no locking); Partition guards it with produceMu.
//
// The rules are Kafka's (ProducerStateManager / ProducerAppendInfo, 2.5+):
//   - a batch equal in epoch, first and last sequence to one of the
//     producer's last five is a duplicate, answered with the original's
//     offsets and not appended;
//   - an epoch older than the producer's current one is
//     ErrInvalidProducerEpoch;
//   - a newer epoch must start at sequence 0 (KIP-360 epoch bump);
//   - within an epoch the first sequence must follow the last one,
//     wrapping from MaxInt32 to 0; anything else (a gap, or a duplicate
//     older than the five kept) is ErrOutOfOrderSequence;
//   - a producer with no state (new, expired, or whose state was lost) is
//     accepted at any epoch and sequence, as Kafka's leader has done since
//     2.4 instead of answering UNKNOWN_PRODUCER_ID.
type producerStates struct {
	m map[int64]*producerEntry
}

func newProducerStates() producerStates {
	return producerStates{m: map[int64]*producerEntry{}}
}

// len returns the number of producers remembered.
func (s *producerStates) len() int { return len(s.m) }

// check decides what to do with a client's batch b: a duplicate returns the
// original's metadata and dup=true; an acceptable batch returns dup=false
// and a nil error; anything else returns an error wrapping
// ErrOutOfOrderSequence or ErrInvalidProducerEpoch. It changes nothing.
func (s *producerStates) check(b producerBatch) (orig batchMetadata, dup bool, err error) {
	e := s.m[b.producerID]
	if e == nil {
		return batchMetadata{}, false, nil
	}
	if b.epoch == e.epoch {
		for _, m := range e.batches {
			if m.firstSeq == b.firstSeq && m.lastSeq == b.lastSeq {
				return m, true, nil
			}
		}
	}
	switch {
	case b.epoch < e.epoch:
		return batchMetadata{}, false, fmt.Errorf("%w: producer %d epoch %d is older than its current epoch %d",
			ErrInvalidProducerEpoch, b.producerID, b.epoch, e.epoch)
	case b.epoch > e.epoch:
		if b.firstSeq != 0 {
			return batchMetadata{}, false, fmt.Errorf("%w: producer %d starts new epoch %d at sequence %d, not 0 (current epoch %d)",
				ErrOutOfOrderSequence, b.producerID, b.epoch, b.firstSeq, e.epoch)
		}
	case !inSequence(e.lastSeq(), b.firstSeq):
		return batchMetadata{}, false, fmt.Errorf("%w: producer %d epoch %d sent sequence %d after %d",
			ErrOutOfOrderSequence, b.producerID, b.epoch, b.firstSeq, e.lastSeq())
	}
	return batchMetadata{}, false, nil
}

// apply records an appended batch of b's producer at [firstOffset,
// lastOffset], written at nowMs. It does not check: live appends call
// check first, and batches replayed from the log were checked when they
// were appended. A new epoch forgets the batches of the old one.
func (s *producerStates) apply(b producerBatch, firstOffset, lastOffset, appendTime, nowMs int64) {
	e := s.m[b.producerID]
	if e == nil {
		e = s.add(b.producerID, b.epoch)
	}
	if e.epoch != b.epoch {
		e.epoch = b.epoch
		e.batches = e.batches[:0]
	}
	if len(e.batches) == producerBatchesKept {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:producerBatchesKept-1]
	}
	delta := lastOffset - firstOffset
	if delta < 0 || delta > math.MaxInt32 {
		delta = 0 // not a batch this broker wrote; keep the first offset
	}
	e.batches = append(e.batches, batchMetadata{
		firstSeq:    b.firstSeq,
		lastSeq:     b.lastSeq,
		firstOffset: firstOffset,
		offsetDelta: int32(delta),
		appendTime:  appendTime,
	})
	e.lastTimestamp = nowMs
}

// add remembers a new producer at epoch.
func (s *producerStates) add(id int64, epoch int16) *producerEntry {
	if len(s.m) >= maxProducers {
		s.evictIdlest()
	}
	e := &producerEntry{epoch: epoch, batches: make([]batchMetadata, 0, producerBatchesKept), coordinatorEpoch: -1}
	s.m[id] = e
	return e
}

// checkMarker decides whether a transaction marker of producerID at epoch
// from a coordinator at coordinatorEpoch may be written, as Kafka's
// appendEndTxnMarker: not from an older producer epoch (a marker carries
// the epoch the coordinator holds, never older than the producer's
// batches), nor from an older coordinator. It changes nothing.
func (s *producerStates) checkMarker(producerID int64, epoch int16, coordinatorEpoch int32) error {
	e := s.m[producerID]
	switch {
	case e == nil:
		return nil
	case epoch < e.epoch:
		return fmt.Errorf("%w: marker of producer %d at epoch %d, older than its current epoch %d",
			ErrInvalidProducerEpoch, producerID, epoch, e.epoch)
	case coordinatorEpoch < e.coordinatorEpoch:
		return fmt.Errorf("%w: marker of producer %d from coordinator epoch %d, its last was %d",
			ErrCoordinatorFenced, producerID, coordinatorEpoch, e.coordinatorEpoch)
	}
	return nil
}

// applyMarker records a written marker: a newer epoch (KIP-890 bumps it
// with every transaction's end) forgets the old epoch's batches, so the
// producer's next batch starts at sequence 0.
func (s *producerStates) applyMarker(producerID int64, epoch int16, coordinatorEpoch int32, nowMs int64) {
	e := s.m[producerID]
	if e == nil {
		e = s.add(producerID, epoch)
	}
	if epoch > e.epoch {
		e.epoch, e.batches = epoch, e.batches[:0]
	}
	e.coordinatorEpoch = max(e.coordinatorEpoch, coordinatorEpoch)
	e.lastTimestamp = nowMs
}

// evictIdlest forgets the producer that wrote least recently.
func (s *producerStates) evictIdlest() {
	var victim int64
	oldest := int64(math.MaxInt64)
	for id, e := range s.m {
		if e.lastTimestamp < oldest || e.lastTimestamp == oldest && id < victim {
			victim, oldest = id, e.lastTimestamp
		}
	}
	delete(s.m, victim)
}

// expire forgets producers that have not written for expirationMs, as
// Kafka's removeExpiredProducers does, except those keep names (a
// producer with a transaction ongoing), and returns how many it dropped.
func (s *producerStates) expire(nowMs, expirationMs int64, keep func(id int64) bool) int {
	n := 0
	for id, e := range s.m {
		if nowMs-e.lastTimestamp >= expirationMs && !keep(id) {
			delete(s.m, id)
			n++
		}
	}
	return n
}

// sortedIDs returns the producer IDs in ascending order (snapshots are
// written in this order so their bytes are deterministic).
func (s *producerStates) sortedIDs() []int64 {
	ids := make([]int64, 0, len(s.m))
	for id := range s.m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
