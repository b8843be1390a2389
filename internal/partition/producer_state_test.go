package partition

import (
	"errors"
	"math"
	"testing"
)

func TestAddSequence(t *testing.T) {
	cases := []struct{ seq, delta, want int32 }{
		{0, 0, 0},
		{0, 4, 4},
		{math.MaxInt32 - 4, 4, math.MaxInt32},
		{math.MaxInt32 - 4, 5, 0},
		{math.MaxInt32 - 1, 3, 1},
		{math.MaxInt32, 1, 0},
		{-1, 3, -1},
	}
	for _, c := range cases {
		if got := addSequence(c.seq, c.delta); got != c.want {
			t.Errorf("addSequence(%d, %d) = %d, want %d", c.seq, c.delta, got, c.want)
		}
	}
}

// pbatch describes a batch of n records from producer 7.
func pbatch(epoch int16, seq, n int32) producerBatch {
	return producerBatch{producerID: 7, epoch: epoch, firstSeq: seq, lastSeq: addSequence(seq, n-1)}
}

// statesWith returns states in which producer 7 appended the given batches
// back to back from offset 100.
func statesWith(batches ...producerBatch) producerStates {
	s := newProducerStates()
	off := int64(100)
	for _, b := range batches {
		n := int64(b.lastSeq) - int64(b.firstSeq)
		if n < 0 {
			n += math.MaxInt32 + 1
		}
		s.apply(b, off, off+n, -1, 1000)
		off += n + 1
	}
	return s
}

func TestProducerStates_Check(t *testing.T) {
	// Six batches of two records: seq 0-1 at offsets 100-101, 2-3 at
	// 102-103, ... 10-11 at 110-111. The first is no longer remembered.
	six := []producerBatch{pbatch(3, 0, 2), pbatch(3, 2, 2), pbatch(3, 4, 2), pbatch(3, 6, 2), pbatch(3, 8, 2), pbatch(3, 10, 2)}
	wrapped := []producerBatch{pbatch(3, math.MaxInt32-1, 2)}
	spanning := []producerBatch{pbatch(3, math.MaxInt32-1, 4)} // seq MaxInt32-1 .. 1
	cases := []struct {
		name    string
		state   []producerBatch
		batch   producerBatch
		wantDup int64 // first offset of the original, or -1
		wantErr error
	}{
		{"in sequence", six, pbatch(3, 12, 5), -1, nil},
		{"duplicate of the newest", six, pbatch(3, 10, 2), 110, nil},
		{"duplicate of the 2nd newest", six, pbatch(3, 8, 2), 108, nil},
		{"duplicate of the 3rd newest", six, pbatch(3, 6, 2), 106, nil},
		{"duplicate of the 4th newest", six, pbatch(3, 4, 2), 104, nil},
		{"duplicate of the 5th newest", six, pbatch(3, 2, 2), 102, nil},
		{"duplicate older than the five kept", six, pbatch(3, 0, 2), -1, ErrOutOfOrderSequence},
		{"same first sequence, other length", six, pbatch(3, 10, 3), -1, ErrOutOfOrderSequence},
		{"gap", six, pbatch(3, 13, 1), -1, ErrOutOfOrderSequence},
		{"repeat inside a batch", six, pbatch(3, 11, 1), -1, ErrOutOfOrderSequence},
		{"new epoch at 0", six, pbatch(4, 0, 1), -1, nil},
		{"new epoch not at 0", six, pbatch(4, 12, 1), -1, ErrOutOfOrderSequence},
		{"old epoch", six, pbatch(2, 12, 1), -1, ErrInvalidProducerEpoch},
		{"old epoch, sequence of a kept batch", six, pbatch(2, 10, 2), -1, ErrInvalidProducerEpoch},
		{"wraps to 0 after MaxInt32", wrapped, pbatch(3, 0, 1), -1, nil},
		{"no wrap to 1", wrapped, pbatch(3, 1, 1), -1, ErrOutOfOrderSequence},
		{"no MaxInt32+1 without wrapping", wrapped, pbatch(3, math.MaxInt32, 1), -1, ErrOutOfOrderSequence},
		{"after a batch spanning the wrap", spanning, pbatch(3, 2, 1), -1, nil},
		{"duplicate of a batch spanning the wrap", spanning, pbatch(3, math.MaxInt32-1, 4), 100, nil},
		{"unknown producer at 0", nil, pbatch(0, 0, 1), -1, nil},
		// Kafka's leader (2.4+) accepts a producer it has no state for at
		// any sequence and epoch: its state may have expired.
		{"unknown producer at a later sequence", nil, pbatch(5, 42, 1), -1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := statesWith(c.state...)
			orig, dup, err := s.check(c.batch)
			if !errors.Is(err, c.wantErr) || (err != nil) != (c.wantErr != nil) {
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if dup != (c.wantDup >= 0) {
				t.Fatalf("duplicate %v, want %v", dup, c.wantDup >= 0)
			}
			if dup && (orig.firstOffset != c.wantDup || orig.firstSeq != c.batch.firstSeq || orig.lastSeq != c.batch.lastSeq) {
				t.Fatalf("original %+v, want first offset %d", orig, c.wantDup)
			}
		})
	}
}

func TestProducerStates_NewEpochForgetsOldBatches(t *testing.T) {
	s := statesWith(pbatch(3, 0, 2), pbatch(3, 2, 2))
	s.apply(pbatch(4, 0, 1), 200, 200, -1, 2000)
	e := s.m[7]
	if e.epoch != 4 || len(e.batches) != 1 || e.lastTimestamp != 2000 {
		t.Fatalf("entry after the bump: %+v", e)
	}
	if _, _, err := s.check(pbatch(3, 2, 2)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("retry from the old epoch: %v", err)
	}
	if orig, dup, err := s.check(pbatch(4, 0, 1)); err != nil || !dup || orig.firstOffset != 200 {
		t.Fatalf("retry in the new epoch: %+v %v %v", orig, dup, err)
	}
}

func TestProducerStates_KeepsFiveBatches(t *testing.T) {
	s := newProducerStates()
	for i := range int32(12) {
		s.apply(pbatch(0, i, 1), int64(i), int64(i), -1, 0)
		if got, want := len(s.m[7].batches), min(int(i)+1, producerBatchesKept); got != want {
			t.Fatalf("after %d batches %d kept, want %d", i+1, got, want)
		}
	}
	if first := s.m[7].batches[0].firstSeq; first != 7 {
		t.Fatalf("oldest kept sequence %d, want 7", first)
	}
}

func TestProducerStates_Expire(t *testing.T) {
	s := newProducerStates()
	s.apply(producerBatch{producerID: 1, firstSeq: 0, lastSeq: 0}, 0, 0, -1, 1_000)
	s.apply(producerBatch{producerID: 2, firstSeq: 0, lastSeq: 0}, 1, 1, -1, 5_000)
	if n := s.expire(5_999, 5_000, func(int64) bool { return false }); n != 0 || s.len() != 2 {
		t.Fatalf("expired %d early", n)
	}
	if n := s.expire(6_000, 5_000, func(int64) bool { return false }); n != 1 || s.m[1] != nil || s.m[2] == nil {
		t.Fatalf("expired %d, left %v", n, s.sortedIDs())
	}
	if n := s.expire(10_000, 5_000, func(int64) bool { return false }); n != 1 || s.len() != 0 {
		t.Fatalf("expired %d, left %v", n, s.sortedIDs())
	}
}

func TestProducerStates_EvictsIdlestAtLimit(t *testing.T) {
	s := newProducerStates()
	for id := range int64(maxProducers) {
		// Producer 5 wrote longest ago.
		ts := 10_000 + id
		if id == 5 {
			ts = 1
		}
		s.apply(producerBatch{producerID: id, firstSeq: 0, lastSeq: 0}, id, id, -1, ts)
	}
	s.apply(producerBatch{producerID: maxProducers, firstSeq: 0, lastSeq: 0}, 0, 0, -1, 50_000)
	if s.len() != maxProducers || s.m[5] != nil || s.m[maxProducers] == nil {
		t.Fatalf("%d producers; 5 kept: %v", s.len(), s.m[5] != nil)
	}
}
