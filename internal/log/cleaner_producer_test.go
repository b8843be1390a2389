package log

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/record"
)

// producerOpts are the build options of a batch of producer 7, epoch 3.
func producerOpts(seq int32) record.BuildOptions {
	return record.BuildOptions{ProducerID: 7, ProducerEpoch: 3, BaseSequence: seq}
}

// headersOf returns the headers of the stored batches, in order.
func headersOf(t *testing.T, l *Log) []record.Header {
	t.Helper()
	var out []record.Header
	for off, leo := l.LogStartOffset(), l.LogEndOffset(); off < leo; {
		h, _ := record.PeekHeader(readRaw(t, l, off))
		out = append(out, h)
		off = h.NextOffset()
	}
	return out
}

// lastSequence replays the producer fields of the stored batch headers as
// producer state rebuilt from the log does, and returns producer 7's
// epoch and last sequence (-1 when it has no batch).
func lastSequence(hs []record.Header) (epoch int16, seq int32) {
	epoch, seq = -1, -1
	for _, h := range hs {
		if h.ProducerID == 7 && !h.IsControl() {
			epoch, seq = h.ProducerEpoch, shiftSequence(h.BaseSequence, int64(h.LastOffsetDelta))
		}
	}
	return epoch, seq
}

// TestCleanProducerLastBatch checks that a clean keeps the last batch of
// each active producer, emptied when its records all go, and drops the
// producer's other batches, its expired batches, and empty batches that
// are no longer its last; that the empty batch has Kafka's header fields,
// decodes with kmsg, survives a full recovery, and is read like any batch.
func TestCleanProducerLastBatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active map[int64]int64 // nil: the log scans for the last batches
		empty  bool            // producer 7's last batch stays as an empty batch
	}{
		{"scan", nil, true},
		{"active", map[int64]int64{7: 4, 9: 100}, true},
		{"expired", map[int64]int64{9: 100}, false},
		{"newer batch elsewhere", map[int64]int64{7: 100}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, compactConfig())
			l := e.open()
			defer func() { l.Close() }()
			ts := e.clock.Now().UnixMilli()
			mustAppend(t, l, keyedBatch([]kv{{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("1")}}, ts, producerOpts(0)), 2)
			mustAppend(t, l, keyedBatch([]kv{{[]byte("a"), []byte("2")}, {[]byte("b"), nil}, {[]byte("c"), []byte("2")}}, ts+10, producerOpts(2)), 2)
			mustAppend(t, l, keyedBatch([]kv{{[]byte("a"), []byte("3")}, {[]byte("b"), []byte("3")}, {[]byte("c"), []byte("3")}}, ts+20, record.BuildOptions{}), 2)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			st, err := l.Clean(t.Context(), CleanOptions{Now: e.clock.Now(), HighWatermark: l.LogEndOffset(), ActiveProducers: tc.active})
			if err != nil || !st.Cleaned {
				t.Fatalf("Clean: %+v %v", st, err)
			}
			hs := headersOf(t, l)
			if !tc.empty {
				if len(hs) != 1 || hs[0].BaseOffset != 5 {
					t.Fatalf("batches %+v, want only the last", hs)
				}
				return
			}
			if len(hs) != 2 || hs[1].BaseOffset != 5 {
				t.Fatalf("batches %+v", hs)
			}
			want := record.Header{BaseOffset: 2, BatchLength: record.HeaderSize - record.LengthOverhead, PartitionLeaderEpoch: 2,
				Magic: 2, LastOffsetDelta: 2, BaseTimestamp: -1, MaxTimestamp: ts + 12, ProducerID: 7, ProducerEpoch: 3, BaseSequence: 2}
			got := hs[0]
			got.CRC = 0
			if got != want {
				t.Fatalf("empty batch\n got %+v\nwant %+v", got, want)
			}
			raw := readRaw(t, l, 3) // an offset inside the empty batch
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(raw); err != nil || kb.NumRecords != 0 || kb.FirstOffset != 2 || kb.LastOffsetDelta != 2 ||
				kb.ProducerID != 7 || kb.FirstSequence != 2 || len(kb.Records) != 0 || !record.CheckCRC(raw) {
				t.Fatalf("kmsg decodes %+v (%v)", kb, err)
			}
			if epoch, seq := lastSequence(hs); epoch != 3 || seq != 4 {
				t.Fatalf("rebuilt producer: epoch %d, last sequence %d", epoch, seq)
			}

			// A full recovery keeps the empty batch.
			crash(l)
			os.Remove(filepath.Join(e.dir, checkpointFile))
			l = e.open()
			if hs2 := headersOf(t, l); len(hs2) != 2 || hs2[0] != hs[0] {
				t.Fatalf("after recovery %+v", hs2)
			}
			if strings.Contains(e.logs.String(), "truncated segment") {
				t.Fatalf("recovery cut the empty batch:\n%s", e.logs.String())
			}
			if recs := readRecords(t, l); len(recs) != 3 || recs[0].off != 5 {
				t.Fatalf("records %v", recs)
			}

			// Still the producer's last batch: a second clean keeps it.
			// Once the producer wrote again, it goes.
			dirty(t, e, l)
			active := tc.active
			if st, err := l.Clean(t.Context(), CleanOptions{Now: e.clock.Now(), HighWatermark: l.LogEndOffset(), ActiveProducers: active}); err != nil || !st.Cleaned {
				t.Fatalf("Clean: %+v %v", st, err)
			}
			if hs := headersOf(t, l); hs[0].BaseOffset != 2 || hs[0].NumRecords != 0 {
				t.Fatalf("second clean dropped the producer's batch: %+v", hs)
			}
			info := mustAppend(t, l, keyedBatch([]kv{{[]byte("c"), []byte("4")}}, ts+30, producerOpts(5)), 2)
			mustAppend(t, l, keyedBatch([]kv{{[]byte("c"), []byte("5")}}, ts+40, record.BuildOptions{}), 2)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			if active != nil {
				active = map[int64]int64{7: info.LastOffset}
			}
			if st, err := l.Clean(t.Context(), CleanOptions{Now: e.clock.Now(), HighWatermark: l.LogEndOffset(), ActiveProducers: active}); err != nil || !st.Cleaned {
				t.Fatalf("Clean: %+v %v", st, err)
			}
			hs = headersOf(t, l)
			if hs[0].BaseOffset == 2 {
				t.Fatalf("stale empty batch kept: %+v", hs)
			}
			if epoch, seq := lastSequence(hs); epoch != 3 || seq != 5 {
				t.Fatalf("rebuilt producer after the second batch: epoch %d, last sequence %d (%+v)", epoch, seq, hs)
			}
		})
	}
}

// TestCleanProducerLastBatchTail checks a producer's last batch whose last
// records go while others stay: the kept run is rebuilt and an empty batch
// after it carries the removed offsets and the last sequence, whatever
// the codec.
func TestCleanProducerLastBatchTail(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecGzip} {
		t.Run(codec.String(), func(t *testing.T) {
			e := newEnv(t, compactConfig())
			l := e.open()
			defer l.Close()
			ts := e.clock.Now().UnixMilli()
			opts := producerOpts(10)
			opts.Codec = codec
			mustAppend(t, l, keyedBatch([]kv{{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("1")}, {[]byte("c"), []byte("1")}, {[]byte("d"), []byte("1")}}, ts, opts), 0)
			mustAppend(t, l, keyedBatch([]kv{{[]byte("c"), []byte("2")}, {[]byte("d"), []byte("2")}}, ts, record.BuildOptions{}), 0)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			if st := mustClean(t, l, e.clock.Now(), nil); !st.Cleaned {
				t.Fatal("not cleaned")
			}
			hs := headersOf(t, l)
			if len(hs) != 3 {
				t.Fatalf("batches %+v", hs)
			}
			run, tail := hs[0], hs[1]
			if run.BaseOffset != 0 || run.NumRecords != 2 || run.BaseSequence != 10 || run.Compression() != codec {
				t.Fatalf("kept run %+v", run)
			}
			if tail.BaseOffset != 2 || tail.NumRecords != 0 || tail.LastOffsetDelta != 1 || tail.BaseSequence != 12 ||
				tail.ProducerEpoch != 3 || tail.Compression() != record.CodecNone {
				t.Fatalf("empty tail %+v", tail)
			}
			if epoch, seq := lastSequence(hs); epoch != 3 || seq != 13 {
				t.Fatalf("rebuilt producer: epoch %d, last sequence %d", epoch, seq)
			}
			if recs := readRecords(t, l); len(recs) != 4 || recs[1].off != 1 || recs[2].off != 4 {
				t.Fatalf("records %v", recs)
			}
		})
	}
}

// TestCleanHorizonKgoTimestamps decodes a batch carrying a delete horizon
// the way franz-go's consumer does (kmsg.RecordBatch, then each record's
// timestamp = FirstTimestamp + delta, kgo/source.go) and checks every
// record keeps the timestamp it was written with.
func TestCleanHorizonKgoTimestamps(t *testing.T) {
	e := newEnv(t, compactConfig())
	l := e.open()
	defer l.Close()
	ts := e.clock.Now().UnixMilli() - 1000
	mustAppend(t, l, keyedBatch([]kv{{[]byte("a"), []byte("1")}, {[]byte("b"), nil}, {[]byte("c"), nil}, {[]byte("d"), []byte("1")}}, ts, record.BuildOptions{}), 0)
	mustAppend(t, l, keyedBatch([]kv{{[]byte("c"), []byte("2")}}, ts+100, record.BuildOptions{}), 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustClean(t, l, e.clock.Now(), nil)
	wantTS := map[string]int64{"a": ts, "b": ts + 1, "d": ts + 3, "c": ts + 100}
	seen := 0
	for off := int64(0); off < l.LogEndOffset(); {
		raw := readRaw(t, l, off)
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		if off == 0 && (kb.Attributes&0x40 == 0 || kb.FirstTimestamp != e.clock.Now().Add(time.Hour).UnixMilli()) {
			t.Fatalf("first batch has no delete horizon: %+v", kb)
		}
		for in := kb.Records; len(in) > 0; {
			n, used := binary.Varint(in)
			var r kmsg.Record
			if used <= 0 || r.ReadFrom(in[:used+int(n)]) != nil {
				t.Fatalf("record at offset %d undecodable", off)
			}
			if got := kb.FirstTimestamp + r.TimestampDelta64; got != wantTS[string(r.Key)] {
				t.Fatalf("key %s: kgo would see timestamp %d, written %d", r.Key, got, wantTS[string(r.Key)])
			}
			seen++
			in = in[used+int(n):]
		}
		off = kb.FirstOffset + int64(kb.LastOffsetDelta) + 1
	}
	if seen != 4 {
		t.Fatalf("decoded %d records, want 4", seen)
	}
}

// TestValidateStored checks what recovery accepts of an empty batch: a
// bare header with a good CRC and no codec; anything else is damage.
func TestValidateStored(t *testing.T) {
	src := record.Header{BaseOffset: 10, PartitionLeaderEpoch: 1, Magic: 2, LastOffsetDelta: 4, MaxTimestamp: 99,
		ProducerID: 7, ProducerEpoch: 3, BaseSequence: 20}
	good := emptyBatch(src, 12)
	recrc := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[hdrCRC:], crc32.Checksum(b[hdrAttributes:], castagnoli))
		return b
	}
	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
		ok     bool
	}{
		{"empty batch", func(b []byte) []byte { return b }, true},
		{"bad crc", func(b []byte) []byte { b[hdrMaxTimestamp] ^= 1; return b }, false},
		{"codec", func(b []byte) []byte { b[hdrAttributes+1] |= byte(record.CodecGzip); return recrc(b) }, false},
		{"negative delta", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[hdrLastOffsetDelta:], 0xffffffff)
			return recrc(b)
		}, false},
		{"trailing bytes", func(b []byte) []byte {
			b = append(b, 0, 0)
			binary.BigEndian.PutUint32(b[hdrBatchLength:], record.HeaderSize-record.LengthOverhead+2)
			return recrc(b)
		}, false},
		{"data batch", func([]byte) []byte { return batch(2, "x", 1) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), good...))
			err := validateStored(b, nil)
			if (err == nil) != tc.ok {
				t.Fatalf("validateStored: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	h, _ := record.PeekHeader(good)
	if h.BaseOffset != 12 || h.LastOffset() != 14 || h.BaseSequence != 22 || h.NumRecords != 0 || h.MaxTimestamp != 99 || h.BaseTimestamp != -1 {
		t.Fatalf("empty batch header %+v", h)
	}
}
