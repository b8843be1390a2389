package log

import (
	"encoding/binary"
	"fmt"
	"sort"
)

const (
	offsetEntrySize = 8  // uint32 relative offset, uint32 position
	timeEntrySize   = 12 // int64 timestamp, uint32 relative offset
)

type offsetEntry struct {
	rel uint32 // offset - segment base
	pos uint32 // byte position of the batch starting at that offset
}

type timeEntry struct {
	ts  int64  // maxTimestamp of the batch at rel
	rel uint32 // base offset of that batch - segment base
}

// offsetIndex is a segment's sparse offset index, held in memory.
type offsetIndex struct {
	entries []offsetEntry
}

// lookup returns the entry with the largest offset <= rel, or the zero
// entry (position 0, the segment start) when there is none.
func (x *offsetIndex) lookup(rel uint32) offsetEntry {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].rel > rel })
	if i == 0 {
		return offsetEntry{}
	}
	return x.entries[i-1]
}

// atOrBeforePos returns the entry with the largest position <= pos, or the
// zero entry (the segment start) when there is none. Positions increase
// with offsets, so the entries are sorted by both.
func (x *offsetIndex) atOrBeforePos(pos uint32) offsetEntry {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].pos > pos })
	if i == 0 {
		return offsetEntry{}
	}
	return x.entries[i-1]
}

// truncateFrom drops entries whose position is >= pos.
func (x *offsetIndex) truncateFrom(pos uint32) {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].pos >= pos })
	x.entries = x.entries[:i]
}

func (x *offsetIndex) encode() []byte {
	b := make([]byte, 0, len(x.entries)*offsetEntrySize)
	for _, e := range x.entries {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint32(b, e.pos)
	}
	return b
}

// decodeOffsetIndex parses an index file and checks what can be checked
// without the log: whole entries, offsets and positions strictly increasing,
// positions inside the segment.
func decodeOffsetIndex(b []byte, segSize int64) (offsetIndex, error) {
	if len(b)%offsetEntrySize != 0 {
		return offsetIndex{}, fmt.Errorf("size %d not a multiple of %d", len(b), offsetEntrySize)
	}
	x := offsetIndex{entries: make([]offsetEntry, 0, len(b)/offsetEntrySize)}
	for i := 0; i < len(b); i += offsetEntrySize {
		e := offsetEntry{rel: binary.BigEndian.Uint32(b[i:]), pos: binary.BigEndian.Uint32(b[i+4:])}
		if n := len(x.entries); n > 0 && (e.rel <= x.entries[n-1].rel || e.pos <= x.entries[n-1].pos) {
			return offsetIndex{}, fmt.Errorf("entry %d (%d, %d) not after (%d, %d)", n, e.rel, e.pos, x.entries[n-1].rel, x.entries[n-1].pos)
		}
		if e.rel == 0 || int64(e.pos) >= segSize {
			return offsetIndex{}, fmt.Errorf("entry %d (%d, %d) outside the segment of %d bytes", len(x.entries), e.rel, e.pos, segSize)
		}
		x.entries = append(x.entries, e)
	}
	return x, nil
}

// timeIndex is a segment's sparse time index, held in memory.
type timeIndex struct {
	entries []timeEntry
}

// last returns the last entry, or ok=false.
func (x *timeIndex) last() (timeEntry, bool) {
	if len(x.entries) == 0 {
		return timeEntry{}, false
	}
	return x.entries[len(x.entries)-1], true
}

// maybeAppend adds (ts, rel) if ts is larger than the last timestamp.
func (x *timeIndex) maybeAppend(ts int64, rel uint32) {
	if l, ok := x.last(); ok && ts <= l.ts {
		return
	}
	x.entries = append(x.entries, timeEntry{ts: ts, rel: rel})
}

// lastBelow returns the last entry with timestamp < ts, or ok=false.
func (x *timeIndex) lastBelow(ts int64) (timeEntry, bool) {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].ts >= ts })
	if i == 0 {
		return timeEntry{}, false
	}
	return x.entries[i-1], true
}

// truncateFrom drops entries whose offset is >= rel.
func (x *timeIndex) truncateFrom(rel uint32) {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].rel >= rel })
	x.entries = x.entries[:i]
}

func (x *timeIndex) encode() []byte {
	b := make([]byte, 0, len(x.entries)*timeEntrySize)
	for _, e := range x.entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
		b = binary.BigEndian.AppendUint32(b, e.rel)
	}
	return b
}

// decodeTimeIndex parses a time index file: whole entries, timestamps
// strictly and offsets weakly increasing, offsets below maxRel.
func decodeTimeIndex(b []byte, maxRel uint32) (timeIndex, error) {
	if len(b)%timeEntrySize != 0 {
		return timeIndex{}, fmt.Errorf("size %d not a multiple of %d", len(b), timeEntrySize)
	}
	x := timeIndex{entries: make([]timeEntry, 0, len(b)/timeEntrySize)}
	for i := 0; i < len(b); i += timeEntrySize {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), rel: binary.BigEndian.Uint32(b[i+8:])}
		if n := len(x.entries); n > 0 && (e.ts <= x.entries[n-1].ts || e.rel < x.entries[n-1].rel) {
			return timeIndex{}, fmt.Errorf("entry %d (%d, %d) not after (%d, %d)", n, e.ts, e.rel, x.entries[n-1].ts, x.entries[n-1].rel)
		}
		if e.rel >= maxRel || e.ts < 0 {
			return timeIndex{}, fmt.Errorf("entry %d (%d, %d) outside the segment", len(x.entries), e.ts, e.rel)
		}
		x.entries = append(x.entries, e)
	}
	return x, nil
}
