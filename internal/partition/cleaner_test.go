package partition

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// TestPartition_CleanKeepsProducerState compacts away every record of an
// idempotent producer (a plain producer overwrote its only key) through
// Manager.CleanDirtiest, drops the producer snapshots, and reopens: the
// state rebuilt from the log still knows the producer's epoch and last
// sequence, from the empty batch the clean kept. So a retry of its last
// batch is a duplicate, its next sequence is accepted, and a gap is
// refused (an unknown producer would be accepted at any sequence).
func TestPartition_CleanKeepsProducerState(t *testing.T) {
	m := NewManager(ManagerConfig{Dir: t.TempDir(), NodeID: 1}, slog.New(slog.DiscardHandler))
	id := ID{"compacted", 0}
	p, err := m.Create(id, [16]byte{2}, topicConfig(t, map[string]string{"cleanup.policy": "compact"}), 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := p.log.Dir()
	mustAppend(t, p, idemBatch(7, 2, 0, 3))
	mustAppend(t, p, idemBatch(7, 2, 3, 2)) // offsets 3-4, sequences 3-4
	mustAppend(t, p, batch(1, time.Now().UnixMilli()))
	if err := p.log.Roll(); err != nil {
		t.Fatal(err)
	}
	cleaned, st, err := m.CleanDirtiest(context.Background(), time.Now(), nil)
	if err != nil || cleaned != p || !st.Cleaned || st.RecordsKept != 1 {
		t.Fatalf("CleanDirtiest: %v %+v %v", cleaned, st, err)
	}
	// Only the plain record and the producer's emptied last batch remain.
	b, err := p.Read(0, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.ParseHeader(b)
	if err != nil || h.NumRecords != 0 || h.BaseOffset != 3 || h.LastOffsetDelta != 1 || h.ProducerID != 7 || h.BaseSequence != 3 {
		t.Fatalf("first batch after the clean %+v (%v)", h, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, off := range snapshotsIn(t, dir) {
		if err := os.Remove(filepath.Join(dir, snapshotName(off))); err != nil {
			t.Fatal(err)
		}
	}

	q := openAt(t, dir, map[string]string{"cleanup.policy": "compact"})
	e := q.producers.m[7]
	if e == nil || e.epoch != 2 || e.lastSeq() != 4 {
		t.Fatalf("rebuilt producer 7: %+v", e)
	}
	if pend := mustAppend(t, q, idemBatch(7, 2, 3, 2)); !pend.Duplicate || pend.Info.BaseOffset != 3 || pend.Info.LastOffset != 4 {
		t.Fatalf("retry of the last batch: %+v", pend)
	}
	if _, err := q.Append(idemBatch(7, 2, 6, 1), time.Now()); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap accepted: %v", err)
	}
	if _, err := q.Append(idemBatch(7, 1, 0, 1), time.Now()); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("older epoch accepted: %v", err)
	}
	if pend := mustAppend(t, q, idemBatch(7, 2, 5, 1)); pend.Duplicate || pend.Info.BaseOffset != 6 {
		t.Fatalf("next batch: %+v", pend)
	}
}
