package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// cleanModel is the record-level model of a compacted log: the records
// present, in offset order, and the delete horizon (Unix ms) given to each
// tombstone by the first clean that kept it.
type cleanModel struct {
	present []seenRec
	horizon map[int64]int64
	// handed holds every horizon given out: a batch whose tombstones went
	// keeps its flag, as Kafka's does.
	handed    map[int64]bool
	retention time.Duration
}

func newCleanModel(retention time.Duration) *cleanModel {
	return &cleanModel{horizon: map[int64]int64{}, handed: map[int64]bool{}, retention: retention}
}

// add appends the records of a workload.
func (m *cleanModel) add(recs map[int64]seenRec) {
	offs := make([]int64, 0, len(recs))
	for off := range recs {
		offs = append(offs, off)
	}
	slices.Sort(offs)
	for _, off := range offs {
		m.present = append(m.present, recs[off])
	}
}

// clean applies a clean of [0, end) at now and returns how many tombstones
// it removed for their horizon: per key the newest record below end stays;
// a tombstone among them goes once now reaches its horizon, and gets
// now + delete.retention.ms as horizon when this is the first clean to
// keep it.
func (m *cleanModel) clean(now time.Time, end int64) int64 {
	newest := map[string]int64{}
	for _, r := range m.present {
		if r.off < end {
			newest[string(r.key)] = r.off
		}
	}
	var out []seenRec
	var removed int64
	for _, r := range m.present {
		if r.off < end {
			if newest[string(r.key)] != r.off {
				continue
			}
			if r.value == nil {
				h, seen := m.horizon[r.off]
				if seen && now.UnixMilli() >= h {
					delete(m.horizon, r.off)
					removed++
					continue
				}
				if !seen {
					m.horizon[r.off] = now.Add(m.retention).UnixMilli()
					m.handed[m.horizon[r.off]] = true
				}
			}
		}
		out = append(out, r)
	}
	m.present = out
	return removed
}

// checkHorizons checks every stored batch against the model: a batch
// holding a tombstone the model gave a horizon carries the delete horizon
// flag with that horizon as base timestamp; a batch never kept by a clean
// with a tombstone carries no flag.
func checkHorizons(t *testing.T, l *Log, m *cleanModel) {
	t.Helper()
	for off, leo := l.LogStartOffset(), l.LogEndOffset(); off < leo; {
		b, err := l.Read(off, 1<<16, leo, true, nil)
		if err != nil || len(b) == 0 {
			t.Fatalf("Read(%d): %d bytes, %v", off, len(b), err)
		}
		for len(b) > 0 {
			h, recs, err := record.Records(b)
			if err != nil {
				t.Fatal(err)
			}
			want := int64(-1)
			for _, r := range recs {
				if hz, ok := m.horizon[h.BaseOffset+int64(r.OffsetDelta)]; ok && r.Value == nil {
					want = hz
				}
			}
			switch {
			case want >= 0 && (!hasDeleteHorizon(h) || h.BaseTimestamp != want):
				t.Fatalf("batch %d: attributes %#x base timestamp %d, want horizon %d", h.BaseOffset, h.Attributes, h.BaseTimestamp, want)
			case want < 0 && hasDeleteHorizon(h) && len(recs) > 0 && !m.handed[h.BaseTimestamp]:
				t.Fatalf("batch %d has an unknown delete horizon %d", h.BaseOffset, h.BaseTimestamp)
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
}

// TestCleanModel runs rounds of random keyed workloads (tombstones,
// codecs, a producer id), each followed by a clean at a clock advanced by
// a random step around delete.retention.ms (1 h), and checks the log
// against cleanModel after each: newest value per key below the cleaned
// point, offsets and record timestamps preserved, and each tombstone
// present until the first clean at or after delete.retention.ms past the
// first clean that kept it, gone from that clean on; the delete horizon
// written in the batches; the active segment untouched; the throttle
// counting every byte; and the result surviving reopen (trusted and full
// recovery).
func TestCleanModel(t *testing.T) {
	steps := []time.Duration{0, 10 * time.Minute, 59 * time.Minute, time.Hour, 61 * time.Minute, 3 * time.Hour}
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			cfg := compactConfig()
			e := newEnv(t, cfg)
			l := e.open()
			defer func() { l.Close() }()
			m := newCleanModel(cfg.DeleteRetention)
			rng := rand.New(rand.NewPCG(seed, 2))
			thr := NewThrottle(0)
			var cleans, removed, horizons int64
			for round := range 14 {
				// The last two rounds only touch one key, a horizon apart:
				// every tombstone kept so far goes.
				if round >= 12 {
					e.clock.Advance(cfg.DeleteRetention)
					dirty(t, e, l)
					m.add(map[int64]seenRec{l.LogEndOffset() - 1: {off: l.LogEndOffset() - 1,
						key: []byte(fmt.Sprintf("d%d", l.LogEndOffset()-1)), value: []byte("v"), ts: e.clock.Now().UnixMilli()}})
				} else {
					// Small rounds leave most keys alone, so that tombstones
					// live on to later cleans; a roll makes them cleanable.
					m.add(workload(t, e, l, seed*100+uint64(round), 3+rng.IntN(50)))
					if rng.IntN(2) == 0 {
						if err := l.Roll(); err != nil {
							t.Fatal(err)
						}
					}
					e.clock.Advance(steps[rng.IntN(len(steps))])
				}
				active := activeBytes(t, l)
				moved := thr.Consumed()
				now := e.clock.Now()
				st := mustClean(t, l, now, thr)
				if !st.Cleaned {
					continue
				}
				cleans++
				if thr.Consumed()-moved != st.BytesRead+st.BytesWritten {
					t.Fatalf("throttle counted %d, clean moved %d", thr.Consumed()-moved, st.BytesRead+st.BytesWritten)
				}
				want := m.clean(now, st.EndOffset)
				if st.TombstonesRemoved != want {
					t.Fatalf("round %d: clean removed %d tombstones, model %d", round, st.TombstonesRemoved, want)
				}
				removed += want
				horizons += int64(len(m.horizon))
				checkRecords(t, readRecords(t, l), m.present)
				checkHorizons(t, l, m)
				if !bytes.Equal(activeBytes(t, l), active) {
					t.Fatal("active segment changed")
				}
				if st2 := mustClean(t, l, now, nil); st2.Cleaned {
					t.Fatalf("clean with nothing dirty did work: %+v", st2)
				}
			}
			t.Logf("%d cleans, %d tombstones removed, %d horizons", cleans, removed, horizons)
			if cleans < 6 || removed == 0 || horizons == 0 {
				t.Fatalf("workload too weak: %d cleans, %d tombstones removed, %d horizons", cleans, removed, horizons)
			}

			// Reopen: trusted prefix, then with no checkpoint (full scan).
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = e.open()
			checkRecords(t, readRecords(t, l), m.present)
			crash(l)
			os.Remove(filepath.Join(e.dir, checkpointFile))
			l = e.open()
			checkRecords(t, readRecords(t, l), m.present)
			if strings.Contains(e.logs.String(), "truncated segment") {
				t.Fatalf("recovery cut a cleaned log:\n%s", e.logs.String())
			}
			mustAppend(t, l, batch(2, "after", e.clock.Now().UnixMilli()), 0)
		})
	}
}

// TestCleanDeleteHorizonBytes checks the on-disk effect of KIP-534 on one
// batch: the first clean sets attributes bit 0x40 and base timestamp =
// clean time + delete.retention.ms, rebases the record timestamp deltas
// (negative now) so each record keeps its timestamp, keeps maxTimestamp,
// and writes a good CRC; a clean before the horizon keeps the tombstone
// and the batch bytes; a clean at the horizon drops the tombstone.
func TestCleanDeleteHorizonBytes(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecLZ4} {
		t.Run(codec.String(), func(t *testing.T) {
			cfg := compactConfig()
			e := newEnv(t, cfg)
			l := e.open()
			defer l.Close()
			ts := e.clock.Now().UnixMilli() - 5000
			mustAppend(t, l, keyedBatch([]kv{{[]byte("a"), []byte("1")}, {[]byte("b"), nil}, {[]byte("c"), []byte("3")}}, ts, record.BuildOptions{Codec: codec}), 0)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, keyedBatch([]kv{{[]byte("z"), []byte("z")}}, ts, record.BuildOptions{}), 0)
			before := readRecords(t, l)
			first := e.clock.Now()
			if st := mustClean(t, l, first, nil); !st.Cleaned || st.TombstonesRemoved != 0 {
				t.Fatalf("first clean %+v", st)
			}
			raw := readRaw(t, l, 0)
			h, recs, err := record.Records(raw)
			if err != nil {
				t.Fatal(err)
			}
			horizon := first.Add(cfg.DeleteRetention).UnixMilli()
			if h.Attributes&0x40 == 0 || h.BaseTimestamp != horizon || h.MaxTimestamp != ts+2 || h.Compression() != codec {
				t.Fatalf("header after first clean %+v, want horizon %d", h, horizon)
			}
			if d := recs[0].TimestampDelta; d != ts-horizon {
				t.Fatalf("first record delta %d, want %d", d, ts-horizon)
			}
			checkRecords(t, readRecords(t, l), before)

			// More dirty data, cleaned 1 ms before the horizon: kept, and the
			// flagged batch is copied as it is.
			e.clock.Advance(cfg.DeleteRetention - time.Millisecond)
			dirty(t, e, l)
			if st := mustClean(t, l, e.clock.Now(), nil); !st.Cleaned || st.TombstonesRemoved != 0 {
				t.Fatalf("clean before the horizon %+v", st)
			}
			if again := readRaw(t, l, 0); !bytes.Equal(again, raw) {
				t.Fatal("a flagged batch losing nothing was rewritten")
			}
			// At the horizon: the tombstone goes, the rest keeps its
			// timestamps and the flag.
			e.clock.Advance(time.Millisecond)
			dirty(t, e, l)
			st := mustClean(t, l, e.clock.Now(), nil)
			if !st.Cleaned || st.TombstonesRemoved != 1 {
				t.Fatalf("clean at the horizon %+v", st)
			}
			got := readRecords(t, l)
			if len(got) < 2 || !equalRec(got[0], before[0]) || !equalRec(got[1], before[2]) {
				t.Fatalf("records %v, before %v", got, before)
			}
			if h, _ := record.PeekHeader(readRaw(t, l, 0)); !hasDeleteHorizon(h) || h.BaseTimestamp != horizon {
				t.Fatalf("rewritten batch %+v lost its horizon", h)
			}
		})
	}
}

// dirty appends one record of a fresh key (at the latest leader epoch) and rolls, so that the next
// clean has dirty bytes.
func dirty(t *testing.T, e *testEnv, l *Log) {
	t.Helper()
	k := fmt.Sprintf("d%d", l.LogEndOffset())
	l.mu.Lock()
	epoch := max(l.epochs.latest(), 0)
	l.mu.Unlock()
	mustAppend(t, l, keyedBatch([]kv{{[]byte(k), []byte("v")}}, e.clock.Now().UnixMilli(), record.BuildOptions{}), epoch)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
}

// readRaw returns the stored bytes of the batch holding offset.
func readRaw(t *testing.T, l *Log, offset int64) []byte {
	t.Helper()
	b, err := l.Read(offset, 1, l.LogEndOffset(), true, nil)
	if err != nil || len(b) < record.HeaderSize {
		t.Fatalf("Read(%d): %d bytes, %v", offset, len(b), err)
	}
	return b[:binary.BigEndian.Uint32(b[hdrBatchLength:])+record.LengthOverhead]
}
