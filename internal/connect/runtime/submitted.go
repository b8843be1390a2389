package runtime

import (
	"reflect"
	"sync"

	"github.com/fjordstream/fjord/internal/connect"
)

// submittedRecords tracks a source task's records between Poll and the
// broker's acknowledgement, Kafka Connect's SubmittedRecords: per source
// partition, in submission order. A partition's offset is committable up
// to (not past) its first unacknowledged record, so a commit never covers
// a record Kafka may not have, whatever order the acks come in.
// Safe for concurrent use (acks arrive on the producer's goroutines).
type submittedRecords struct {
	mu      sync.Mutex
	parts   map[string]*partitionQueue
	pending int           // submitted, not acknowledged
	acked   chan struct{} // signalled (never blocking) on every ack

	// lastPart and lastKey cache the key of the partition map submitted
	// last, by the map's identity: a task usually hands the same map for
	// each record of a source partition, and marshalling it to JSON per
	// record was a tenth of the runtime's CPU. A map changed after it was
	// handed over would go stale here, as it would as a HashMap key in
	// Kafka's SubmittedRecords. Only submit (the task's run goroutine)
	// uses them.
	lastPart map[string]any
	lastKey  string
}

type partitionQueue struct {
	partition map[string]any
	recs      []*submittedRecord
}

// submittedRecord is one record's place in its partition's queue.
type submittedRecord struct {
	s      *submittedRecords
	offset map[string]any
	acked  bool
}

func newSubmittedRecords() *submittedRecords {
	return &submittedRecords{parts: map[string]*partitionQueue{}, acked: make(chan struct{}, 1)}
}

// submit appends r, a record of partition with the offset it carries, to
// its partition's queue; the caller owns r's memory (the runtime
// allocates records a batch at a time). A record without a source
// partition or offset has nothing to commit and is not tracked (false).
func (s *submittedRecords) submit(r *submittedRecord, partition, offset map[string]any) (bool, error) {
	if partition == nil || offset == nil {
		return false, nil
	}
	var k string
	if s.lastPart != nil && reflect.ValueOf(partition).UnsafePointer() == reflect.ValueOf(s.lastPart).UnsafePointer() {
		k = s.lastKey
	} else {
		var err error
		if k, err = partitionKey(partition); err != nil {
			return false, err
		}
		s.lastPart, s.lastKey = partition, k
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.parts[k]
	if q == nil {
		q = &partitionQueue{partition: partition}
		s.parts[k] = q
	}
	*r = submittedRecord{s: s, offset: offset}
	q.recs = append(q.recs, r)
	s.pending++
	return true, nil
}

// ack marks the record acknowledged; acking twice is harmless.
func (r *submittedRecord) ack() {
	if r == nil {
		return
	}
	s := r.s
	s.mu.Lock()
	if !r.acked {
		r.acked = true
		s.pending--
	}
	s.mu.Unlock()
	select {
	case s.acked <- struct{}{}:
	default:
	}
}

// committable removes every partition's acknowledged prefix and returns
// the offset of the last record of each prefix (the partitions with one).
func (s *submittedRecords) committable() []connect.ConnectorOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []connect.ConnectorOffset
	for k, q := range s.parts {
		n := 0
		for n < len(q.recs) && q.recs[n].acked {
			n++
		}
		if n == 0 {
			continue
		}
		out = append(out, connect.ConnectorOffset{Partition: q.partition, Offset: q.recs[n-1].offset})
		clear(q.recs[:n]) // the entries point into poll batches: let them go
		q.recs = q.recs[n:]
		if len(q.recs) == 0 {
			delete(s.parts, k) // keeps the map as small as the set of busy partitions
		}
	}
	return out
}

// outstanding is the number of records submitted and not yet
// acknowledged.
func (s *submittedRecords) outstanding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// size is the number of records held (acknowledged or not) awaiting a
// commit: what bounds the task's memory.
func (s *submittedRecords) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.parts {
		n += len(q.recs)
	}
	return n
}
