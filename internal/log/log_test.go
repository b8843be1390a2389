package log

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
)

func TestLog_AppendReadReopen(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	var want [][]byte
	for i := range 50 {
		b := batch(1+i%5, "a", int64(1000+i))
		info := mustAppend(t, l, b, 3)
		if info.BaseOffset != l.LogEndOffset()-int64(1+i%5) || info.LastOffset != l.LogEndOffset()-1 {
			t.Fatalf("append %d: info %+v, leo %d", i, info, l.LogEndOffset())
		}
		want = append(want, append([]byte(nil), b...))
	}
	check := func(l *Log) {
		got := readAll(t, l)
		if len(got) != len(want) {
			t.Fatalf("%d batches, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
	}
	check(l)
	if n := len(l.Segments()); n < 2 {
		t.Fatalf("expected rolls with 4 KiB segments, got %d segments", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = e.open()
	check(l)
	if l.FlushedOffset() != l.LogEndOffset() {
		t.Fatalf("flushed %d, leo %d after reopen", l.FlushedOffset(), l.LogEndOffset())
	}
	crash(l)
	l = e.open()
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(0, 100, 100, true, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestLog_ReadBounds(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	defer l.Close()
	var sizes []int
	for i := range 6 {
		b := batch(2, "r", int64(i))
		sizes = append(sizes, len(b))
		mustAppend(t, l, b, 0)
	}
	// offsets: batch i holds 2i, 2i+1
	tests := []struct {
		name        string
		offset      int64
		maxBytes    int32
		maxOffset   int64
		minOne      bool
		wantBatches int
		wantFirst   int64
		wantErr     error
	}{
		{"from start", 0, 1 << 20, 12, true, 6, 0, nil},
		{"mid batch", 3, 1 << 20, 12, true, 5, 2, nil},
		{"high watermark excludes", 0, 1 << 20, 4, true, 2, 0, nil},
		{"high watermark mid batch", 0, 1 << 20, 5, true, 2, 0, nil},
		{"offset at hw", 4, 1 << 20, 4, true, 0, 0, nil},
		{"max bytes two", 0, int32(sizes[0] + sizes[1] + 1), 12, true, 2, 0, nil},
		{"min one batch", 0, 1, 12, true, 1, 0, nil},
		{"no min one batch", 0, 1, 12, false, 0, 0, nil},
		{"at leo", 12, 100, 12, true, 0, 0, nil},
		{"past leo", 13, 100, 13, true, 0, 0, ErrOffsetOutOfRange},
		{"negative", -1, 100, 12, true, 0, 0, ErrOffsetOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Read(tt.offset, tt.maxBytes, tt.maxOffset, tt.minOne, []byte("prefix"))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatal("dst prefix lost")
			}
			got = got[len("prefix"):]
			n := 0
			for len(got) > 0 {
				h, err := record.ParseHeader(got)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 && h.BaseOffset != tt.wantFirst {
					t.Fatalf("first batch %d, want %d", h.BaseOffset, tt.wantFirst)
				}
				got = got[h.Size():]
				n++
			}
			if n != tt.wantBatches {
				t.Fatalf("%d batches, want %d", n, tt.wantBatches)
			}
		})
	}
}

func TestLog_LogAppendTimeAndEpochs(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	b := batch(3, "t", 5)
	info, err := l.Append(b, 7, 424242)
	if err != nil {
		t.Fatal(err)
	}
	if info.LogAppendTime != 424242 || info.MaxTimestamp != 424242 {
		t.Fatalf("info %+v", info)
	}
	got, err := l.Read(0, 1<<20, 3, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.ParseHeader(got)
	if err != nil || h.TimestampType() != record.LogAppendTime || h.PartitionLeaderEpoch != 7 || !record.CheckCRC(got) {
		t.Fatalf("stored header %+v (%v)", h, err)
	}
	if off, ts, ok, err := l.OffsetForTimestamp(424242); err != nil || !ok || off != 0 || ts != 424242 {
		t.Fatalf("OffsetForTimestamp: %d %d %v %v", off, ts, ok, err)
	}
	if err := l.Sync(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLog_AppendAsFollower(t *testing.T) {
	e := newEnv(t, testConfig())
	l := e.open()
	defer l.Close()
	b1 := batch(2, "f", 0)
	record.SetBaseOffset(b1, 0)
	record.SetPartitionLeaderEpoch(b1, 1)
	b2 := batch(3, "f", 0)
	record.SetBaseOffset(b2, 2)
	record.SetPartitionLeaderEpoch(b2, 2)
	if _, err := l.AppendAsFollower(append(append([]byte(nil), b1...), b2...)); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 5 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	if _, err := l.AppendAsFollower(b1); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("overlapping follower append: %v", err)
	}
	// A gap is refused; the follower restarts its log at the leader's
	// log start offset instead.
	b3 := batch(1, "f", 0)
	record.SetBaseOffset(b3, 100)
	record.SetPartitionLeaderEpoch(b3, 4)
	if _, err := l.AppendAsFollower(b3); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("gap accepted: %v", err)
	}
	if ep, off := l.EndOffsetForEpoch(1); ep != 1 || off != 2 {
		t.Fatalf("EndOffsetForEpoch(1) = %d, %d", ep, off)
	}
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsFollower(b3); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 101 || len(segs) != 1 || segs[0].BaseOffset != 100 {
		t.Fatalf("start %d end %d segments %+v", l.LogStartOffset(), l.LogEndOffset(), segs)
	}
	if ep, off := l.EndOffsetForEpoch(4); ep != 4 || off != 101 {
		t.Fatalf("EndOffsetForEpoch(4) = %d, %d", ep, off)
	}
	corrupt := append([]byte(nil), b3...)
	record.SetBaseOffset(corrupt, 101)
	corrupt[len(corrupt)-1] ^= 1
	if _, err := l.AppendAsFollower(corrupt); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("corrupt follower append: %v", err)
	}
}
