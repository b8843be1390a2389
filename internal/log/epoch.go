package log

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// UndefinedEpoch and UndefinedEpochOffset are Kafka's answers to
// OffsetForLeaderEpoch for an epoch the log cannot place.
const (
	UndefinedEpoch       int32 = -1
	UndefinedEpochOffset int64 = -1
)

type epochEntry struct {
	epoch int32
	start int64 // first offset written in this epoch
}

// epochCache is Kafka's leader epoch cache: for each leader epoch, the
// first offset appended in it. Entries are strictly increasing in both.
type epochCache struct {
	entries []epochEntry
}

// assign records that epoch starts at offset start; it reports whether the
// cache changed. Lower or equal epochs are ignored; entries at or after
// start (left by a log that was cut back) are replaced.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if epoch < 0 {
		return false
	}
	if n := len(c.entries); n > 0 && epoch <= c.entries[n-1].epoch {
		return false
	}
	c.truncateFromEnd(start)
	c.entries = append(c.entries, epochEntry{epoch: epoch, start: start})
	return true
}

// truncateFromEnd drops entries starting at or after end.
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].start >= end {
		c.entries = c.entries[:len(c.entries)-1]
	}
	return len(c.entries) != n
}

// truncateFromStart drops entries wholly below start; the last of them, if
// any, is kept with its start moved up to start (Kafka's truncateFromStart).
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i < len(c.entries) && c.entries[i].start < start {
		i++
	}
	if i == 0 {
		return false
	}
	if i < len(c.entries) && c.entries[i].start == start {
		c.entries = append(c.entries[:0], c.entries[i:]...)
		return true
	}
	kept := epochEntry{epoch: c.entries[i-1].epoch, start: start}
	rest := c.entries[i:]
	c.entries = append(append(c.entries[:0], kept), rest...)
	return true
}

// latest returns the latest epoch, or UndefinedEpoch.
func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return UndefinedEpoch
	}
	return c.entries[len(c.entries)-1].epoch
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor does: for the latest epoch, the log end
// offset; otherwise the start offset of the first later epoch, paired with
// the largest known epoch <= the requested one (or the requested epoch if
// none is smaller).
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	if epoch == UndefinedEpoch || len(c.entries) == 0 {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if epoch == c.latest() {
		return epoch, leo
	}
	higher := -1
	for i, e := range c.entries {
		if e.epoch > epoch {
			higher = i
			break
		}
	}
	if higher < 0 {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if higher == 0 {
		return epoch, c.entries[0].start
	}
	return c.entries[higher-1].epoch, c.entries[higher].start
}

// encode writes Kafka's leader-epoch-checkpoint format: version 0, the
// entry count, then "epoch startOffset" lines.
func (c *epochCache) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return b.Bytes()
}

// decodeEpochCache parses the checkpoint strictly.
func decodeEpochCache(data []byte) (epochCache, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	if v, ok := line(); !ok || v != "0" {
		return epochCache{}, fmt.Errorf("version line %q", v)
	}
	v, ok := line()
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 0 || n > len(data) {
		return epochCache{}, fmt.Errorf("count line %q", v)
	}
	var c epochCache
	for i := range n {
		v, ok := line()
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 {
			return epochCache{}, fmt.Errorf("entry %d: %q", i, v)
		}
		epoch, err1 := strconv.ParseInt(fields[0], 10, 32)
		start, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			return epochCache{}, fmt.Errorf("entry %d: %q", i, v)
		}
		if k := len(c.entries); k > 0 && (int32(epoch) <= c.entries[k-1].epoch || start < c.entries[k-1].start) {
			return epochCache{}, fmt.Errorf("entry %d: %q not after the previous one", i, v)
		}
		c.entries = append(c.entries, epochEntry{epoch: int32(epoch), start: start})
	}
	if v, ok := line(); ok {
		return epochCache{}, fmt.Errorf("trailing line %q", v)
	}
	return c, nil
}
