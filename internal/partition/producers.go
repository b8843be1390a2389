package partition

// ProducerState is what a partition remembers of one idempotent producer,
// in the shape of Kafka's DescribeProducers answer. It is a copy: changing
// it changes nothing in the partition.
type ProducerState struct {
	ProducerID int64
	// Epoch is the newest producer epoch seen from ProducerID.
	Epoch int16
	// LastSequence is the last sequence of the producer's newest batch,
	// -1 (Kafka's NO_SEQUENCE) when none of its batches is remembered.
	LastSequence int32
	// LastTimestamp (Unix ms) is when the producer last wrote: the broker
	// clock for live appends, the batch's max timestamp for state
	// rebuilt from the log.
	LastTimestamp int64
	// CoordinatorEpoch is the transaction coordinator's epoch of the
	// producer's last transaction marker, -1 before any.
	CoordinatorEpoch int32
	// CurrentTxnStartOffset is the first offset of the producer's open
	// transaction, -1 when none is open.
	CurrentTxnStartOffset int64
}

// ActiveProducers returns the idempotent producers the partition
// remembers, by ascending producer ID. Producers that only ever sent
// batches without a producer ID are never remembered, and expired or
// evicted producers are gone, as in Kafka.
func (p *Partition) ActiveProducers() []ProducerState {
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	ids := p.producers.sortedIDs()
	out := make([]ProducerState, 0, len(ids))
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	for _, id := range ids {
		e := p.producers.m[id]
		first, ok := p.txns.ongoing[id]
		if !ok {
			first = -1
		}
		out = append(out, ProducerState{
			ProducerID:            id,
			Epoch:                 e.epoch,
			LastSequence:          e.lastSeq(),
			LastTimestamp:         e.lastTimestamp,
			CoordinatorEpoch:      e.coordinatorEpoch,
			CurrentTxnStartOffset: first,
		})
	}
	return out
}
