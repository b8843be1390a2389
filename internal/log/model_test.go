package log

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
	"pgregory.net/rapid"
)

// modelBatch is a batch as the model expects it stored.
type modelBatch struct {
	base, last int64
	data       []byte
}

// logModel is the in-memory model of a log: its batches, start and end.
type logModel struct {
	batches  []modelBatch
	lso, leo int64
}

// dropBelow forgets batches wholly below the log start offset.
func (m *logModel) dropBelow() {
	i := 0
	for i < len(m.batches) && m.batches[i].last < m.lso {
		i++
	}
	m.batches = m.batches[i:]
}

// containing returns the index of the first batch whose last offset is
// >= off, or len(batches).
func (m *logModel) containing(off int64) int {
	for i, b := range m.batches {
		if b.last >= off {
			return i
		}
	}
	return len(m.batches)
}

// TestLog_Model runs random sequences of operations against a log and an
// in-memory model and compares offsets, bytes, log start and end offsets.
func TestLog_Model(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "fjord-log-model-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		clock := newClock()
		cfg := DefaultConfig()
		cfg.RetentionMs, cfg.RetentionBytes = -1, -1
		cfg.SegmentBytes = int64(rapid.IntRange(300, 3000).Draw(rt, "segment.bytes"))
		cfg.IndexIntervalBytes = int32(rapid.IntRange(1, 600).Draw(rt, "index.interval.bytes"))
		cfg.SegmentIndexBytes = int32(rapid.IntRange(32, 400).Draw(rt, "segment.index.bytes"))
		logs := &syncBuffer{}
		open := func() *Log {
			l, err := Open(dir, cfg, Options{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				rt.Fatalf("Open: %v", err)
			}
			return l
		}
		fdsBefore := openFDs(rt)
		l := open()
		// Pinned reads: each must keep yielding the bytes it pinned,
		// whatever happens to the log, until released. A truncation may
		// rewrite a pinned region in place (documented), so it voids them.
		type pin struct {
			fs   *FileSlices
			want []byte
		}
		var pins []pin
		releasePins := func() {
			for _, p := range pins {
				p.fs.Release()
			}
			pins = nil
		}
		defer func() {
			releasePins()
			l.Close()
			if n := openFDs(rt); n != fdsBefore {
				rt.Fatalf("%d open files after the log closed, %d before it opened", n, fdsBefore)
			}
		}()
		m := &logModel{}
		epoch := int32(0)
		now := clock.Now().UnixMilli()

		rt.Repeat(map[string]func(*rapid.T){
			"": func(rt *rapid.T) {
				if l.LogStartOffset() != m.lso || l.LogEndOffset() != m.leo {
					rt.Fatalf("log start/end %d/%d, model %d/%d", l.LogStartOffset(), l.LogEndOffset(), m.lso, m.leo)
				}
			},
			"append": func(rt *rapid.T) {
				n := rapid.IntRange(1, 6).Draw(rt, "records")
				recs := make([]record.Record, n)
				for i := range recs {
					recs[i] = record.Record{
						OffsetDelta:    int32(i),
						TimestampDelta: rapid.Int64Range(-5000, 5000).Draw(rt, "tsDelta"),
						Key:            []byte{byte(i)},
						Value:          bytes.Repeat([]byte{byte(m.leo)}, rapid.IntRange(0, 200).Draw(rt, "valueSize")),
					}
				}
				codec := record.Codec(rapid.IntRange(0, 4).Draw(rt, "codec"))
				b := record.Build(recs, record.BuildOptions{Codec: codec, BaseTimestamp: now + rapid.Int64Range(-3_600_000, 3_600_000).Draw(rt, "ts")})
				if _, err := record.Validate(b, record.ValidateOptions{}); err != nil {
					rt.Fatal(err)
				}
				if rapid.IntRange(0, 5).Draw(rt, "newEpoch") == 0 {
					epoch++
				}
				lat := int64(-1)
				if rapid.IntRange(0, 3).Draw(rt, "logAppendTime") == 0 {
					lat = now + rapid.Int64Range(0, 1000).Draw(rt, "appendTime")
				}
				info, err := l.Append(b, epoch, lat)
				if err != nil {
					rt.Fatalf("Append: %v", err)
				}
				if info.BaseOffset != m.leo || info.LastOffset != m.leo+int64(n)-1 {
					rt.Fatalf("append info %+v, model end %d", info, m.leo)
				}
				m.batches = append(m.batches, modelBatch{base: m.leo, last: info.LastOffset, data: b})
				m.leo += int64(n)
			},
			"sync": func(rt *rapid.T) {
				if err := l.Sync(context.Background(), m.leo); err != nil {
					rt.Fatalf("Sync: %v", err)
				}
				if l.FlushedOffset() < m.leo {
					rt.Fatalf("flushed %d below %d after Sync", l.FlushedOffset(), m.leo)
				}
			},
			"read": func(rt *rapid.T) {
				off := rapid.Int64Range(m.lso-2, m.leo+2).Draw(rt, "offset")
				maxBytes := int32(rapid.IntRange(0, 3000).Draw(rt, "maxBytes"))
				hw := rapid.Int64Range(max(off, m.lso), max(off, m.leo)).Draw(rt, "hw")
				minOne := rapid.Bool().Draw(rt, "minOneBatch")
				got, err := l.Read(off, maxBytes, hw, minOne, nil)
				fs, serr := l.ReadSlices(off, maxBytes, hw, minOne)
				sliced, aerr := fs.AppendTo(nil)
				fs.Release()
				if (err == nil) != (serr == nil) || aerr != nil || !bytes.Equal(got, sliced) {
					rt.Fatalf("ReadSlices(%d, %d, %d, %v) = %d bytes, %v, %v; Read = %d bytes, %v", off, maxBytes, hw, minOne, len(sliced), serr, aerr, len(got), err)
				}
				if off < m.lso || off > m.leo {
					if !errors.Is(err, ErrOffsetOutOfRange) {
						rt.Fatalf("Read(%d) outside [%d, %d]: %v", off, m.lso, m.leo, err)
					}
					return
				}
				if err != nil {
					rt.Fatalf("Read(%d): %v", off, err)
				}
				i := m.containing(off)
				n := 0
				for p := 0; p < len(got); n++ {
					if i+n >= len(m.batches) {
						rt.Fatalf("Read(%d) returned more batches than the model has", off)
					}
					want := m.batches[i+n]
					if want.last >= hw {
						rt.Fatalf("Read(%d, hw %d) returned batch %d-%d", off, hw, want.base, want.last)
					}
					if !bytes.HasPrefix(got[p:], want.data) {
						rt.Fatalf("Read(%d): batch %d differs from the model", off, want.base)
					}
					p += len(want.data)
				}
				if len(got) > int(maxBytes) && n != 1 {
					rt.Fatalf("Read(%d, %d bytes) returned %d bytes in %d batches", off, maxBytes, len(got), n)
				}
				firstVisible := i < len(m.batches) && m.batches[i].last < hw
				if minOne && firstVisible && n == 0 {
					rt.Fatalf("Read(%d, hw %d, minOneBatch) returned nothing", off, hw)
				}
				if firstVisible && int(maxBytes) >= len(m.batches[i].data) && n == 0 {
					rt.Fatalf("Read(%d) returned nothing though the first batch fits", off)
				}
			},
			"pin": func(rt *rapid.T) {
				off := rapid.Int64Range(m.lso, m.leo).Draw(rt, "offset")
				fs, err := l.ReadSlices(off, int32(rapid.IntRange(0, 3000).Draw(rt, "maxBytes")), m.leo, true)
				if err != nil {
					rt.Fatalf("ReadSlices(%d): %v", off, err)
				}
				want, err := l.Read(off, int32(fs.Size()), m.leo, true, nil)
				if err != nil || int64(len(want)) != fs.Size() {
					rt.Fatalf("Read(%d) after ReadSlices: %d bytes, %v; pinned %d", off, len(want), err, fs.Size())
				}
				pins = append(pins, pin{fs, want})
			},
			"checkPins": func(rt *rapid.T) {
				for _, p := range pins {
					got, err := p.fs.AppendTo(nil)
					if err != nil || !bytes.Equal(got, p.want) {
						rt.Fatalf("pinned read changed: %d bytes, %v; want %d bytes", len(got), err, len(p.want))
					}
				}
				releasePins()
			},
			"roll": func(rt *rapid.T) {
				if err := l.Roll(); err != nil {
					rt.Fatalf("Roll: %v", err)
				}
			},
			"retention": func(rt *rapid.T) {
				c := cfg
				if rapid.Bool().Draw(rt, "byTime") {
					c.RetentionMs = time.Duration(rapid.Int64Range(0, 2*3600).Draw(rt, "retention.s")) * time.Second
				} else {
					c.RetentionBytes = rapid.Int64Range(0, 6000).Draw(rt, "retention.bytes")
				}
				l.SetConfig(c)
				_, err := l.EnforceRetention(clock.Now())
				l.SetConfig(cfg)
				if err != nil {
					rt.Fatalf("EnforceRetention: %v", err)
				}
				lso := l.LogStartOffset()
				if lso < m.lso || lso > m.leo {
					rt.Fatalf("retention moved log start from %d to %d (end %d)", m.lso, lso, m.leo)
				}
				if lso != m.lso && lso != m.leo && m.batches[m.containing(lso)].base != lso {
					rt.Fatalf("retention moved log start to %d, not a batch boundary", lso)
				}
				m.lso = lso
				m.dropBelow()
			},
			"deleteRecords": func(rt *rapid.T) {
				off := rapid.Int64Range(m.lso-1, m.leo+1).Draw(rt, "offset")
				err := l.DeleteRecordsBefore(off)
				if off > m.leo || off < 0 {
					if !errors.Is(err, ErrOffsetOutOfRange) {
						rt.Fatalf("DeleteRecordsBefore(%d) past end %d: %v", off, m.leo, err)
					}
					return
				}
				if err != nil {
					rt.Fatalf("DeleteRecordsBefore(%d): %v", off, err)
				}
				m.lso = max(m.lso, off)
				m.dropBelow()
			},
			"truncate": func(rt *rapid.T) {
				to := rapid.Int64Range(max(m.lso-3, 0), m.leo+1).Draw(rt, "to")
				if to < m.leo {
					releasePins()
				}
				if err := l.Truncate(to); err != nil {
					rt.Fatalf("Truncate(%d): %v", to, err)
				}
				switch {
				case to >= m.leo:
				case to < m.lso:
					m.batches, m.lso, m.leo = nil, to, to
				default:
					i := m.containing(to)
					m.leo = m.batches[i].base
					m.batches = m.batches[:i]
					m.lso = min(m.lso, m.leo)
				}
			},
			"reopen": func(rt *rapid.T) {
				if err := l.Close(); err != nil {
					rt.Fatalf("Close: %v", err)
				}
				l = open()
			},
			"crash": func(rt *rapid.T) {
				crash(l)
				l = open()
			},
			"advanceClock": func(rt *rapid.T) {
				clock.Advance(time.Duration(rapid.IntRange(1, 3600).Draw(rt, "seconds")) * time.Second)
			},
			"timestamp": func(rt *rapid.T) {
				target := now + rapid.Int64Range(-4_000_000, 4_000_000).Draw(rt, "target")
				var data [][]byte
				for _, b := range m.batches {
					data = append(data, b.data)
				}
				wantOff, wantTS, wantOK := flattenRecords(data, l.decomp).firstAtOrAfter(target, m.lso)
				off, ts, ok, err := l.OffsetForTimestamp(target)
				if err != nil || ok != wantOK || (ok && (off != wantOff || ts != wantTS)) {
					rt.Fatalf("OffsetForTimestamp(%d) = %d %d %v %v, model %d %d %v", target, off, ts, ok, err, wantOff, wantTS, wantOK)
				}
			},
		})
		if w := logs.String(); bytes.Contains([]byte(w), []byte("level=WARN")) {
			rt.Fatalf("warnings on a log that was never damaged:\n%s", w)
		}
	})
}
