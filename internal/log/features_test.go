package log

import (
	"errors"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// fill appends n batches of 4 records with timestamps 1000*i+j and
// returns the log.
func fill(t *testing.T, e *testEnv, n int) *Log {
	t.Helper()
	l := e.open()
	for i := range n {
		mustAppend(t, l, batch(4, "x", int64(1000*i)), 0)
	}
	return l
}

func TestLog_IndexLookups(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	e := newEnv(t, cfg)
	l := fill(t, e, 100)
	defer l.Close()
	s := l.segs[0]
	if len(s.index.entries) < 10 || len(s.tindex.entries) < 10 {
		t.Fatalf("sparse indexes too small: %d offset, %d time entries", len(s.index.entries), len(s.tindex.entries))
	}
	for _, ent := range s.index.entries {
		h, err := s.readHeader(int64(ent.pos), make([]byte, record.HeaderSize))
		if err != nil || h.BaseOffset != s.base+int64(ent.rel) {
			t.Fatalf("entry %+v points at %+v (%v)", ent, h, err)
		}
	}
	for off := int64(0); off < 400; off += 7 {
		b, err := l.Read(off, 1, 400, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := record.ParseHeader(b)
		if h.BaseOffset != off/4*4 {
			t.Fatalf("Read(%d) got batch %d", off, h.BaseOffset)
		}
	}
}

func TestLog_OffsetForTimestamp(t *testing.T) {
	e := newEnv(t, testConfig())
	l := fill(t, e, 60) // record 4i+j has timestamp 1000i+j; several segments
	defer l.Close()
	tests := []struct {
		ts      int64
		wantOff int64
		wantTS  int64
		ok      bool
	}{
		{-5, 0, 0, true},
		{0, 0, 0, true},
		{1, 1, 1, true},
		{4, 4, 1000, true},
		{1000, 4, 1000, true},
		{1002, 6, 1002, true},
		{30_001, 121, 30_001, true},
		{59_003, 239, 59_003, true},
		{59_004, 0, 0, false},
	}
	for _, tt := range tests {
		off, ts, ok, err := l.OffsetForTimestamp(tt.ts)
		if err != nil || ok != tt.ok || (ok && (off != tt.wantOff || ts != tt.wantTS)) {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d, %v", tt.ts, off, ts, ok, err, tt.wantOff, tt.wantTS, tt.ok)
		}
	}
	if ts, off := l.MaxTimestamp(); ts != 59_003 || off != 239 {
		t.Fatalf("MaxTimestamp = %d, %d", ts, off)
	}
	// Below the log start offset nothing is returned.
	if err := l.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	if off, _, ok, _ := l.OffsetForTimestamp(0); !ok || off != 10 {
		t.Fatalf("after DeleteRecordsBefore(10): offset %d ok %v", off, ok)
	}
}

func TestLog_RollBySizeAgeAndIndex(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		advance time.Duration
		want    int // segments after 20 appends of ~300 bytes
	}{
		{"no roll", func(c *Config) { c.SegmentBytes = 1 << 20; c.SegmentIndexBytes = 1 << 20 }, 0, 1},
		// 4-record batches are 193 bytes: 7 fit in 1500 bytes.
		{"by size", func(c *Config) { c.SegmentBytes = 1500; c.SegmentIndexBytes = 1 << 20 }, 0, 3},
		{"by age", func(c *Config) { c.SegmentBytes = 1 << 20; c.SegmentIndexBytes = 1 << 20; c.SegmentMs = time.Minute }, 31 * time.Second, 10},
		{"by index full", func(c *Config) {
			c.SegmentBytes = 1 << 20
			c.SegmentIndexBytes = 4 * offsetEntrySize
			c.IndexIntervalBytes = 1
		}, 0, 4}, // the first batch is never indexed: 4 entries, 5 batches
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.mutate(&cfg)
			e := newEnv(t, cfg)
			l := e.open()
			defer l.Close()
			for range 20 {
				mustAppend(t, l, batch(4, "y", 0), 0)
				e.clock.Advance(tt.advance)
			}
			if got := len(l.Segments()); got != tt.want {
				t.Fatalf("%d segments, want %d: %+v", got, tt.want, l.Segments())
			}
			readAll(t, l)
		})
	}
}

func TestLog_MaybeRoll(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = time.Hour
	e := newEnv(t, cfg)
	l := e.open()
	defer l.Close()
	if err := l.MaybeRoll(e.clock.Now().Add(2 * time.Hour)); err != nil || len(l.Segments()) != 1 {
		t.Fatalf("empty segment rolled: %v %d", err, len(l.Segments()))
	}
	mustAppend(t, l, batch(1, "z", 0), 0)
	if err := l.MaybeRoll(e.clock.Now().Add(time.Minute)); err != nil || len(l.Segments()) != 1 {
		t.Fatalf("young segment rolled: %v", err)
	}
	if err := l.MaybeRoll(e.clock.Now().Add(2 * time.Hour)); err != nil || len(l.Segments()) != 2 {
		t.Fatalf("old segment not rolled: %v %d", err, len(l.Segments()))
	}
	if err := l.Roll(); err != nil || len(l.Segments()) != 2 {
		t.Fatalf("Roll of an empty active segment: %v %d", err, len(l.Segments()))
	}
}

func TestLog_Retention(t *testing.T) {
	tests := []struct {
		name        string
		retentionMs time.Duration
		retBytes    int64
		now         time.Duration // after the clock used for the timestamps
		partial     bool          // some but not all segments go
	}{
		{"unlimited", -1, -1, 100 * time.Hour, false},
		{"by time some", 20 * time.Minute, -1, 0, true},
		{"by time none", time.Hour, -1, 0, false},
		{"by bytes", -1, 6000, 0, true},
		{"by time all", time.Millisecond, -1, 0, false},
		{"bytes zero deletes all", -1, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.RetentionMs, cfg.RetentionBytes = tt.retentionMs, tt.retBytes
			cfg.SegmentBytes = 1000 // 5 batches a segment, 8 segments
			e := newEnv(t, cfg)
			l := e.open()
			defer l.Close()
			now := e.clock.Now().UnixMilli()
			// 40 batches, batch i stamped 40-i minutes before now.
			for i := range 40 {
				mustAppend(t, l, batch(4, "w", now-int64(40-i)*int64(time.Minute/time.Millisecond)), 0)
			}
			before := l.Segments()
			n, err := l.EnforceRetention(e.clock.Now().Add(tt.now))
			if err != nil {
				t.Fatal(err)
			}
			after := l.Segments()
			// Model: which segments should go.
			want := 0
			switch {
			case tt.retentionMs >= 0:
				limit := e.clock.Now().Add(tt.now).Add(-tt.retentionMs).UnixMilli()
				for _, s := range before {
					if s.Size == 0 || s.MaxTimestamp >= limit {
						break
					}
					want++
				}
			case tt.retBytes >= 0:
				var total int64
				for _, s := range before {
					total += s.Size
				}
				diff := total - tt.retBytes
				for _, s := range before {
					if s.Size == 0 || diff-s.Size < 0 {
						break
					}
					diff -= s.Size
					want++
				}
			}
			if n != want {
				t.Fatalf("deleted %d, want %d (before %d segments)", n, want, len(before))
			}
			if want > 0 && want < len(before) && after[0].BaseOffset != before[want].BaseOffset {
				t.Fatalf("first segment %d, want %d", after[0].BaseOffset, before[want].BaseOffset)
			}
			if l.LogStartOffset() != after[0].BaseOffset && want > 0 {
				t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), after[0].BaseOffset)
			}
			if l.LogEndOffset() != 160 {
				t.Fatalf("log end moved to %d", l.LogEndOffset())
			}
			if tt.partial && (n == 0 || n == len(before)) {
				t.Fatalf("deleted %d of %d segments, want some", n, len(before))
			}
			if tt.retentionMs == time.Millisecond && n != len(before) {
				t.Fatalf("retention shorter than every batch age kept %d segments", len(before)-n)
			}
			readAll(t, l)
			// The log start offset survives a reopen.
			lso := l.LogStartOffset()
			l.Close()
			l = e.open()
			if l.LogStartOffset() != lso || l.LogEndOffset() != 160 {
				t.Fatalf("after reopen: start %d end %d, want %d 160", l.LogStartOffset(), l.LogEndOffset(), lso)
			}
		})
	}
}

func TestLog_DeleteRecordsBefore(t *testing.T) {
	tests := []struct {
		name    string
		offset  int64
		wantLSO int64
		wantErr error
	}{
		{"mid first segment", 5, 5, nil},
		{"segment boundary", -1, -1, nil}, // filled in: base of segment 2
		{"end", 240, 240, nil},
		{"past end", 241, 0, ErrOffsetOutOfRange},
		{"below start", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			l := fill(t, e, 60)
			defer l.Close()
			segsBefore := l.Segments()
			off, want := tt.offset, tt.wantLSO
			if off < 0 {
				off, want = segsBefore[2].BaseOffset, segsBefore[2].BaseOffset
			}
			err := l.DeleteRecordsBefore(off)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if l.LogStartOffset() != want {
				t.Fatalf("log start %d, want %d", l.LogStartOffset(), want)
			}
			for _, s := range l.Segments() {
				if s.NextOffset <= want && s.Size > 0 {
					t.Fatalf("segment %+v wholly below the log start offset survived", s)
				}
			}
			if _, err := l.Read(want-1, 100, 200, true, nil); want > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below start: %v", err)
			}
			readAll(t, l)
			l.Close()
			if l = e.open(); l.LogStartOffset() != want {
				t.Fatalf("after reopen log start %d, want %d", l.LogStartOffset(), want)
			}
		})
	}
}

func TestLog_Truncate(t *testing.T) {
	tests := []struct {
		name    string
		to      int64
		wantLEO int64
	}{
		{"batch boundary", 40, 40},
		{"mid batch", 42, 40},
		{"segment base", -1, -1},
		{"zero", 0, 0},
		{"at end", 120, 120},
		{"past end", 500, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			l := fill(t, e, 30) // epoch 0 on every batch
			defer l.Close()
			mustAppend(t, l, batch(4, "x", 0), 5) // offsets 120..123 in epoch 5
			if err := l.Truncate(124); err != nil {
				t.Fatal(err)
			}
			if err := l.Truncate(120); err != nil {
				t.Fatal(err)
			}
			if ep, _ := l.EndOffsetForEpoch(5); ep != UndefinedEpoch {
				t.Fatalf("epoch 5 survived truncation")
			}
			to, want := tt.to, tt.wantLEO
			if to < 0 {
				to, want = l.Segments()[1].BaseOffset, l.Segments()[1].BaseOffset
			}
			if err := l.Truncate(to); err != nil {
				t.Fatal(err)
			}
			if l.LogEndOffset() != want || l.FlushedOffset() > want {
				t.Fatalf("leo %d flushed %d, want %d", l.LogEndOffset(), l.FlushedOffset(), want)
			}
			if got := int64(len(readAll(t, l)) * 4); got != want {
				t.Fatalf("%d records readable, want %d", got, want)
			}
			info := mustAppend(t, l, batch(2, "n", 0), 1)
			if info.BaseOffset != want {
				t.Fatalf("append after truncate at %d", info.BaseOffset)
			}
			crash(l)
			l = e.open()
			if l.LogEndOffset() != want+2 {
				t.Fatalf("after crash leo %d, want %d", l.LogEndOffset(), want+2)
			}
			readAll(t, l)
		})
	}
}

func TestLog_TruncateBelowStart(t *testing.T) {
	e := newEnv(t, testConfig())
	l := fill(t, e, 10)
	defer l.Close()
	if err := l.DeleteRecordsBefore(20); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(8); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 8 || l.LogEndOffset() != 8 || len(l.Segments()) != 1 {
		t.Fatalf("start %d end %d segments %d", l.LogStartOffset(), l.LogEndOffset(), len(l.Segments()))
	}
	if info := mustAppend(t, l, batch(1, "q", 0), 0); info.BaseOffset != 8 {
		t.Fatalf("append at %d", info.BaseOffset)
	}
}

func TestLog_EndOffsetForEpoch(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	// epochs: 2 starts at 0, 4 at 8, 7 at 12; leo 20
	for _, a := range []struct {
		epoch int32
		n     int
	}{{2, 4}, {2, 4}, {4, 4}, {7, 4}, {7, 4}, {3, 0}} {
		if a.n == 0 {
			continue
		}
		mustAppend(t, l, batch(a.n, "e", 0), a.epoch)
	}
	tests := []struct {
		epoch     int32
		wantEpoch int32
		wantOff   int64
	}{
		{UndefinedEpoch, UndefinedEpoch, UndefinedEpochOffset},
		{1, 1, 0},
		{2, 2, 8},
		{3, 2, 8},
		{4, 4, 12},
		{5, 4, 12},
		{7, 7, 20},
		{8, UndefinedEpoch, UndefinedEpochOffset},
	}
	check := func(l *Log) {
		t.Helper()
		for _, tt := range tests {
			if ep, off := l.EndOffsetForEpoch(tt.epoch); ep != tt.wantEpoch || off != tt.wantOff {
				t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tt.epoch, ep, off, tt.wantEpoch, tt.wantOff)
			}
		}
	}
	check(l)
	l.Close()
	l = e.open()
	check(l)
	defer l.Close()
	// Deleting records moves the first epoch's start up (Kafka's
	// truncateFromStart).
	if err := l.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	if ep, off := l.EndOffsetForEpoch(1); ep != 1 || off != 10 {
		t.Fatalf("after delete: EndOffsetForEpoch(1) = %d, %d", ep, off)
	}
	if l.LatestEpoch() != 7 {
		t.Fatalf("latest epoch %d", l.LatestEpoch())
	}
}

// A replica elected leader that lost leadership before appending holds an
// epoch entry at its log end its new leader never had; truncating to the
// log end (what the follower's divergence check asks for) must drop it, or
// the leader's batches of the older epoch are refused forever.
func TestLog_TruncateAtLogEndDropsEmptyEpoch(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	defer l.Close()
	mustAppend(t, l, batch(4, "a", 0), 11)
	if err := l.AssignEpoch(12); err != nil {
		t.Fatal(err)
	}
	if l.LatestEpoch() != 12 {
		t.Fatalf("latest epoch %d after AssignEpoch(12)", l.LatestEpoch())
	}
	if err := l.Truncate(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.LatestEpoch() != 11 {
		t.Fatalf("latest epoch %d after truncating to the log end, want 11", l.LatestEpoch())
	}
	if _, err := l.Append(batch(2, "b", 0), 11, -1); err != nil {
		t.Fatalf("appending the new leader's epoch-11 batch: %v", err)
	}
	l.Close()
	l = e.open()
	if l.LatestEpoch() != 11 || l.LogEndOffset() != 6 {
		t.Fatalf("reopened: latest epoch %d, log end %d", l.LatestEpoch(), l.LogEndOffset())
	}
}

func TestLog_EmptyAppendAndClosed(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	if _, err := l.Append(nil, 0, -1); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("empty append: %v", err)
	}
	if _, err := l.Append([]byte{1, 2, 3}, 0, -1); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("garbage append: %v", err)
	}
	l.Close()
	if _, err := l.Append(batch(1, "c", 0), 0, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	l = e.open()
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
}
