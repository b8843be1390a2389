package log

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
)

// TestTimestamps_SkipEmptyBatches: an empty batch the cleaner left for a
// producer keeps its original maxTimestamp, but no record carries it, so
// neither MAX_TIMESTAMP nor a lookup by time may answer with it.
func TestTimestamps_SkipEmptyBatches(t *testing.T) {
	first := record.Build([]record.Record{{Key: []byte("a"), Value: []byte("1")}},
		record.BuildOptions{BaseTimestamp: 100})
	h, err := record.PeekHeader(first)
	if err != nil {
		t.Fatal(err)
	}
	h.BaseOffset, h.MaxTimestamp = 1, 500
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = 9, 0, 0
	empty := emptyBatch(h, 1)
	last := record.Build([]record.Record{{Key: []byte("b"), Value: []byte("2")}},
		record.BuildOptions{BaseOffset: 2, BaseTimestamp: 300})
	e := newEnv(t, testConfig())
	data := append(append(append([]byte{}, first...), empty...), last...)
	if err := os.WriteFile(filepath.Join(e.dir, segmentName(0)+logSuffix), data, 0o644); err != nil {
		t.Fatal(err)
	}
	l := e.open()
	defer l.Close()
	if l.LogEndOffset() != 3 {
		t.Fatalf("log end %d, want 3", l.LogEndOffset())
	}
	if ts, off := l.MaxTimestamp(); ts != 300 || off != 2 {
		t.Fatalf("MaxTimestamp = %d at %d, want 300 at 2 (not the empty batch's 500)", ts, off)
	}
	if off, ts, ok, err := l.OffsetForTimestamp(400); err != nil || ok {
		t.Fatalf("OffsetForTimestamp(400) = %d (ts %d, found %v, err %v); want none: only the empty batch claims a time after 300", off, ts, ok, err)
	}
	if off, ts, ok, err := l.OffsetForTimestamp(200); err != nil || !ok || off != 2 || ts != 300 {
		t.Fatalf("OffsetForTimestamp(200) = %d (ts %d, found %v, err %v); want offset 2 at 300", off, ts, ok, err)
	}
}
