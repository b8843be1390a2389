package fjordtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Batch is one record batch as a replica stores it in its segment files
// (Kafka's on-disk format, which is also the wire format).
type Batch struct {
	// BaseOffset and LastOffset are the first and last offsets in the batch.
	BaseOffset, LastOffset int64
	// LeaderEpoch is the partitionLeaderEpoch the leader stamped on it.
	LeaderEpoch int32
	// Bytes is the whole batch, header included.
	Bytes []byte
}

// Offsets of record batch header fields (v2, magic 2).
const (
	batchHeaderSize    = 61 // through the record count
	batchLengthAt      = 8  // int32: bytes after this field
	batchEpochAt       = 12 // int32 partitionLeaderEpoch
	batchMagicAt       = 16
	batchLastDeltaAt   = 23 // int32 lastOffsetDelta
	batchOverheadBytes = 12 // baseOffset and batchLength precede the counted bytes
)

// ReadPartitionDir reads the batches of one replica of a partition from
// its folder (<data dir>/<topic>-<partition>): every <base>.log segment in
// base order, each read until its end or its first incomplete or malformed
// batch (an append in progress, or a tail a crash left; the broker's own
// recovery decides about those, the checks only trust whole batches). A
// missing folder is an empty log. The files may be read while the broker
// runs: it only appends whole batches past what was read.
func ReadPartitionDir(dir string) ([]Batch, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replica folder: %w", err)
	}
	var bases []int64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || e.IsDir() {
			continue
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue // not a segment (a file being cleaned or deleted)
		}
		bases = append(bases, base)
	}
	slices.Sort(bases)
	var out []Batch
	for _, base := range bases {
		path := filepath.Join(dir, fmt.Sprintf("%020d.log", base))
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by retention or truncation meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("segment %s: %w", path, err)
		}
		out = append(out, ParseBatches(b)...)
	}
	return out, nil
}

// ParseBatches splits segment bytes into batches, stopping at the first
// incomplete or malformed one. The batches alias b.
func ParseBatches(b []byte) []Batch {
	var out []Batch
	for len(b) >= batchHeaderSize {
		n := int32(binary.BigEndian.Uint32(b[batchLengthAt:]))
		size := int(n) + batchOverheadBytes
		if n <= 0 || size < batchHeaderSize || size > len(b) || b[batchMagicAt] != 2 {
			break
		}
		base := int64(binary.BigEndian.Uint64(b))
		out = append(out, Batch{
			BaseOffset:  base,
			LastOffset:  base + int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaAt:]))),
			LeaderEpoch: int32(binary.BigEndian.Uint32(b[batchEpochAt:])),
			Bytes:       b[:size:size],
		})
		b = b[size:]
	}
	return out
}

// EpochStampOnly marks a replica problem where the batches compared hold
// the same records at the same offsets and differ only in the
// partitionLeaderEpoch field the leader stamps: the same producer batch
// written by two leaders in different epochs (a retry), one copy of which
// should have been truncated.
const EpochStampOnly = "the same records, only the leader epoch stamp differs"

// sameButEpoch reports whether two batches are identical except for their
// partitionLeaderEpoch field.
func sameButEpoch(a, b []byte) bool {
	return len(a) == len(b) && len(a) >= batchHeaderSize &&
		bytes.Equal(a[:batchEpochAt], b[:batchEpochAt]) && bytes.Equal(a[batchEpochAt+4:], b[batchEpochAt+4:])
}

// batchAt returns the batch of log with the given base offset.
func batchAt(log []Batch, base int64) (Batch, bool) {
	i, ok := slices.BinarySearchFunc(log, base, func(b Batch, off int64) int {
		switch {
		case b.BaseOffset < off:
			return -1
		case b.BaseOffset > off:
			return 1
		}
		return 0
	})
	if !ok {
		return Batch{}, false
	}
	return log[i], true
}

// ReplicaSet is every replica's log of one partition, keyed by node ID,
// with what the leader reported: the in-sync replicas and the high
// watermark.
type ReplicaSet struct {
	// Partition names the partition in messages ("topic/3").
	Partition string
	// Logs holds each replica's batches, keyed by node ID.
	Logs map[int32][]Batch
	// ISR lists the in-sync replicas.
	ISR []int32
	// HighWatermark is the leader's high watermark.
	HighWatermark int64
}

// CheckReplicas checks the replicas of one partition against the
// invariants of leader-epoch replication (KIP-101), returning problems as
// text, none if it holds:
//
//   - each log's offsets strictly increase and its leader epochs never
//     decrease;
//   - log matching: two replicas holding a batch at the same base offset in
//     the same leader epoch hold identical bytes, and every replica holding
//     any batch of an epoch starts that epoch at the same offset. Only one
//     leader writes in an epoch, and followers copy it byte for byte from
//     where it started, so a mismatch means two replicas accepted writes
//     as leader in one epoch (or a follower copied wrongly), whether or not
//     a write was acknowledged;
//   - every in-sync replica holds every offset below the high watermark,
//     byte-identical to the others.
//
// Replicas outside the ISR may lag or hold a divergent tail of an older
// epoch; only the log-matching rules apply to them.
func CheckReplicas(rs ReplicaSet) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, rs.Partition+": "+fmt.Sprintf(format, args...))
	}
	ids := make([]int32, 0, len(rs.Logs))
	for id := range rs.Logs {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	type where struct {
		node int32
		b    Batch
	}
	atOffset := map[[2]int64]where{} // (base offset, epoch) -> first replica seen
	epochStart := map[int32]where{}  // epoch -> first batch of it on the first replica seen
	for _, id := range ids {
		log := rs.Logs[id]
		seen := map[int32]bool{}
		for i, b := range log {
			if i > 0 {
				prev := log[i-1]
				if b.BaseOffset <= prev.LastOffset {
					add("replica %d: batch at offset %d follows a batch ending at %d", id, b.BaseOffset, prev.LastOffset)
				}
				if b.LeaderEpoch < prev.LeaderEpoch {
					add("replica %d: batch at offset %d has leader epoch %d after epoch %d", id, b.BaseOffset, b.LeaderEpoch, prev.LeaderEpoch)
				}
			}
			k := [2]int64{b.BaseOffset, int64(b.LeaderEpoch)}
			if w, ok := atOffset[k]; !ok {
				atOffset[k] = where{id, b}
			} else if !bytes.Equal(w.b.Bytes, b.Bytes) {
				add("replicas %d and %d hold different batches at offset %d in leader epoch %d (two leaders in one epoch?)",
					w.node, id, b.BaseOffset, b.LeaderEpoch)
			}
			if !seen[b.LeaderEpoch] {
				seen[b.LeaderEpoch] = true
				if w, ok := epochStart[b.LeaderEpoch]; !ok {
					epochStart[b.LeaderEpoch] = where{id, b}
				} else if w.b.BaseOffset != b.BaseOffset {
					// Say whether the earlier start's batch is, on the
					// other replica, the same records stamped otherwise.
					why := "two leaders in one epoch, or a replica that kept a tail it should have truncated"
					lo, other := w.b, log
					if b.BaseOffset < w.b.BaseOffset {
						lo, other = b, rs.Logs[w.node]
					}
					if o, ok := batchAt(other, lo.BaseOffset); ok && sameButEpoch(o.Bytes, lo.Bytes) {
						why = fmt.Sprintf("at offset %d: %s", lo.BaseOffset, EpochStampOnly)
					}
					add("leader epoch %d starts at offset %d on replica %d but at %d on replica %d (%s); epochs at their start offsets: replica %d %s, replica %d %s",
						b.LeaderEpoch, w.b.BaseOffset, w.node, b.BaseOffset, id, why,
						w.node, EpochStarts(rs.Logs[w.node]), id, EpochStarts(log))
				}
			}
		}
	}

	// In-sync replicas below the high watermark.
	var ref []byte
	refNode := int32(-1)
	for _, id := range rs.ISR {
		log, ok := rs.Logs[id]
		if !ok {
			add("in-sync replica %d has no log", id)
			continue
		}
		var below []byte
		next := int64(-1)
		for _, b := range log {
			if b.BaseOffset >= rs.HighWatermark {
				break
			}
			if b.LastOffset >= rs.HighWatermark {
				add("in-sync replica %d: batch %d-%d straddles the high watermark %d", id, b.BaseOffset, b.LastOffset, rs.HighWatermark)
			}
			below = append(below, b.Bytes...)
			next = b.LastOffset + 1
		}
		if rs.HighWatermark > 0 && next < rs.HighWatermark {
			add("in-sync replica %d holds offsets only up to %d, below the high watermark %d", id, next, rs.HighWatermark)
		}
		if refNode < 0 {
			ref, refNode = below, id
			continue
		}
		if !bytes.Equal(ref, below) {
			add("in-sync replicas %d and %d differ below the high watermark %d: %s", refNode, id, rs.HighWatermark, firstDifference(rs.Logs[refNode], log, rs.HighWatermark))
		}
	}
	return problems
}

// EpochStarts describes a log's leader epochs as "epoch@first offset"
// pairs: the leader epoch cache its batches imply.
func EpochStarts(log []Batch) string {
	var parts []string
	for i, b := range log {
		if i == 0 || b.LeaderEpoch != log[i-1].LeaderEpoch {
			parts = append(parts, fmt.Sprintf("%d@%d", b.LeaderEpoch, b.BaseOffset))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// firstDifference describes where two logs first differ below hw.
func firstDifference(a, b []Batch, hw int64) string {
	below := func(log []Batch) []Batch {
		i := slices.IndexFunc(log, func(b Batch) bool { return b.BaseOffset >= hw })
		if i < 0 {
			return log
		}
		return log[:i]
	}
	a, b = below(a), below(b)
	for i := range max(len(a), len(b)) {
		switch {
		case i >= len(a):
			return fmt.Sprintf("the first ends before offset %d, the second goes on", b[i].BaseOffset)
		case i >= len(b):
			return fmt.Sprintf("the second ends before offset %d, the first goes on", a[i].BaseOffset)
		case !bytes.Equal(a[i].Bytes, b[i].Bytes):
			d := fmt.Sprintf("batch %d: offsets %d-%d epoch %d (%d bytes) vs offsets %d-%d epoch %d (%d bytes)",
				i, a[i].BaseOffset, a[i].LastOffset, a[i].LeaderEpoch, len(a[i].Bytes),
				b[i].BaseOffset, b[i].LastOffset, b[i].LeaderEpoch, len(b[i].Bytes))
			if sameButEpoch(a[i].Bytes, b[i].Bytes) {
				d += " (" + EpochStampOnly + ")"
			}
			return d
		}
	}
	return "no difference found"
}

// TailRange is a run of offsets, From to To inclusive, that a replica
// holds in older leader epochs where the other replicas start a newer
// one: a tail the replica kept when it should have truncated it on
// following the newer epoch's leader (KIP-101).
type TailRange struct {
	Replica  int32
	From, To int64
}

// Contains reports whether offset is in the range.
func (r TailRange) Contains(offset int64) bool { return r.From <= offset && offset <= r.To }

// KeptTails finds the tails replicas kept: for each leader epoch that
// starts at different offsets on different replicas, a replica starting it
// later than the earliest start whose batches in between are all of older
// epochs kept them as a tail. CheckReplicas reports the same divergence as
// problems; KeptTails locates it, so that problems elsewhere (a record
// read back differently at one of those offsets) can be traced to it.
func KeptTails(rs ReplicaSet) []TailRange {
	starts := map[int32]map[int32]int64{} // epoch -> replica -> first offset
	for id, log := range rs.Logs {
		for i, b := range log {
			if i == 0 || b.LeaderEpoch != log[i-1].LeaderEpoch {
				if starts[b.LeaderEpoch] == nil {
					starts[b.LeaderEpoch] = map[int32]int64{}
				}
				if _, ok := starts[b.LeaderEpoch][id]; !ok {
					starts[b.LeaderEpoch][id] = b.BaseOffset
				}
			}
		}
	}
	var out []TailRange
	for epoch, byReplica := range starts {
		lo := int64(-1)
		for _, s := range byReplica {
			if lo < 0 || s < lo {
				lo = s
			}
		}
		for id, s := range byReplica {
			if s == lo {
				continue
			}
			older, found := true, false
			for _, b := range rs.Logs[id] {
				if b.BaseOffset >= lo && b.BaseOffset < s {
					found = true
					older = older && b.LeaderEpoch < epoch
				}
			}
			if found && older {
				out = append(out, TailRange{Replica: id, From: lo, To: s - 1})
			}
		}
	}
	slices.SortFunc(out, func(a, b TailRange) int {
		if a.From != b.From {
			return int(a.From - b.From)
		}
		return int(a.Replica - b.Replica)
	})
	return out
}
