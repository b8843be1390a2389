package partition

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// idemBatch builds a batch of n records from producer pid (pid must not be
// 0 with epoch and seq 0: Build reads all-zero as "no producer").
func idemBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte("value")}
	}
	return record.Build(recs, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
}

func openAt(t *testing.T, dir string, overrides map[string]string) *Partition {
	t.Helper()
	p, err := Open(ID{"t", 0}, [16]byte{1}, dir, topicConfig(t, overrides), 1, 3,
		log.Options{Logger: slog.New(slog.DiscardHandler)}, record.NewDecompressor(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func mustAppend(t *testing.T, p *Partition, b []byte) Pending {
	t.Helper()
	pend, err := p.Append(b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pend.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	return pend
}

func TestPartition_IdempotentDuplicateAnsweredWithOriginalOffsets(t *testing.T) {
	p := openTest(t, nil)
	first := mustAppend(t, p, idemBatch(7, 0, 0, 3))
	mustAppend(t, p, idemBatch(7, 0, 3, 2))
	retry := mustAppend(t, p, idemBatch(7, 0, 0, 3))
	if !retry.Duplicate || retry.Info.BaseOffset != first.Info.BaseOffset || retry.Info.LastOffset != 2 {
		t.Fatalf("retry answered %+v (duplicate %v), original %+v", retry.Info, retry.Duplicate, first.Info)
	}
	if leo := p.log.LogEndOffset(); leo != 5 {
		t.Fatalf("log end offset %d: the retry was written again", leo)
	}
	// Non-idempotent batches are not checked: the same bytes go in twice.
	mustAppend(t, p, batch(1, time.Now().UnixMilli()))
	mustAppend(t, p, batch(1, time.Now().UnixMilli()))
	if leo := p.log.LogEndOffset(); leo != 7 {
		t.Fatalf("log end offset %d after two plain batches", leo)
	}
}

func TestPartition_DuplicateWaitsForTheOriginal(t *testing.T) {
	p := openTest(t, nil) // durable mode: the high watermark follows fsync
	orig, err := p.Append(idemBatch(7, 0, 0, 4), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dup, err := p.Append(idemBatch(7, 0, 0, 4), time.Now())
	if err != nil || !dup.Duplicate {
		t.Fatalf("retry: %+v %v", dup, err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before anything was synced", hw)
	}
	if err := dup.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != orig.Info.LastOffset+1 {
		t.Fatalf("high watermark %d after the duplicate's wait, want %d", hw, orig.Info.LastOffset+1)
	}
}

func TestPartition_IdempotentRejections(t *testing.T) {
	cases := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"gap", idemBatch(7, 2, 6, 1), ErrOutOfOrderSequence},
		{"old epoch", idemBatch(7, 1, 5, 1), ErrInvalidProducerEpoch},
		{"new epoch not at 0", idemBatch(7, 3, 5, 1), ErrOutOfOrderSequence},
		{"two batches", append(idemBatch(7, 2, 5, 1), idemBatch(7, 2, 6, 1)...), record.ErrInvalidRecord},
		{"plain batch, then an idempotent one", append(batch(1, time.Now().UnixMilli()), idemBatch(7, 2, 5, 1)...), record.ErrInvalidRecord},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := openTest(t, nil)
			mustAppend(t, p, idemBatch(7, 2, 0, 5))
			if _, err := p.Append(c.batch, time.Now()); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if leo := p.log.LogEndOffset(); leo != 5 {
				t.Fatalf("rejected batch was written: log end offset %d", leo)
			}
			mustAppend(t, p, idemBatch(7, 2, 5, 1)) // the state is unchanged
		})
	}
}

func TestPartition_ProducerStateSurvivesCleanClose(t *testing.T) {
	dir := t.TempDir()
	p := openAt(t, dir, nil)
	mustAppend(t, p, idemBatch(7, 0, 0, 2))
	mustAppend(t, p, idemBatch(9, 1, 0, 1))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, snapshotName(3))); err != nil {
		t.Fatalf("no snapshot at the log end offset: %v", err)
	}
	q := openAt(t, dir, nil)
	if q.snapOffset != 3 || q.dirty || q.ProducerCount() != 2 {
		t.Fatalf("reopened: snapshot %d dirty %v producers %d", q.snapOffset, q.dirty, q.ProducerCount())
	}
	if pend := mustAppend(t, q, idemBatch(7, 0, 0, 2)); !pend.Duplicate || pend.Info.BaseOffset != 0 {
		t.Fatalf("retry after restart: %+v", pend)
	}
	if pend := mustAppend(t, q, idemBatch(9, 1, 1, 1)); pend.Duplicate || pend.Info.BaseOffset != 3 {
		t.Fatalf("next batch after restart: %+v", pend)
	}
}

// crashCopy copies the partition folder as a crash would leave it (files
// as they are now, no Close) into a new folder.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func snapshotsIn(t *testing.T, dir string) []int64 {
	t.Helper()
	offs, err := listSnapshots(vfs.OS(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// TestPartition_ProducerStateRebuiltAfterCrash: after a crash the state is
// rebuilt from the newest usable snapshot and the batch headers after it,
// or from the whole log, and every retry of a producer's last five batches
// is still answered with its original offsets.
func TestPartition_ProducerStateRebuiltAfterCrash(t *testing.T) {
	dir := t.TempDir()
	p := openAt(t, dir, map[string]string{"segment.bytes": "1000"}) // a roll every few batches
	type sent struct {
		pid        int64
		seq        int32
		n          int
		base, last int64
	}
	var history []sent
	seqs := map[int64]int32{}
	for i := range 40 {
		pid := int64(7 + i%3)
		n := 1 + i%4
		pend := mustAppend(t, p, idemBatch(pid, 1, seqs[pid], n))
		history = append(history, sent{pid, seqs[pid], n, pend.Info.BaseOffset, pend.Info.LastOffset})
		seqs[pid] += int32(n)
	}
	if len(snapshotsIn(t, dir)) == 0 {
		t.Fatal("rolls wrote no producer snapshot")
	}
	leo := p.log.LogEndOffset()

	cases := []struct {
		name string
		prep func(t *testing.T, dir string)
	}{
		{"roll snapshots and a tail", func(*testing.T, string) {}},
		{"no snapshot: whole log", func(t *testing.T, dir string) {
			for _, off := range snapshotsIn(t, dir) {
				if err := os.Remove(filepath.Join(dir, snapshotName(off))); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"newest snapshot corrupt", func(t *testing.T, dir string) {
			offs := snapshotsIn(t, dir)
			path := filepath.Join(dir, snapshotName(offs[len(offs)-1]))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)-1] ^= 0x40
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"snapshot beyond the log end", func(t *testing.T, dir string) {
			// Written before a crash took the log tail it describes.
			s := newProducerStates()
			s.apply(producerBatch{producerID: 7, epoch: 1, firstSeq: 999, lastSeq: 999}, leo+50, leo+50, -1, 0)
			if err := os.WriteFile(filepath.Join(dir, snapshotName(leo+51)), encodeProducerSnapshot(leo+51, &s, new(txnState)), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := crashCopy(t, dir)
			c.prep(t, cp)
			q := openAt(t, cp, map[string]string{"segment.bytes": "1000"})
			if got := q.log.LogEndOffset(); got != leo {
				t.Fatalf("log end offset %d, want %d", got, leo)
			}
			for _, off := range snapshotsIn(t, cp) {
				if off > leo {
					t.Fatalf("snapshot %d beyond the log end %d kept", off, leo)
				}
			}
			if n := q.ProducerCount(); n != 3 {
				t.Fatalf("%d producers rebuilt, want 3", n)
			}
			// Each producer's last five batches are recognised.
			for i, s := range history[len(history)-15:] {
				pend := mustAppend(t, q, idemBatch(s.pid, 1, s.seq, s.n))
				if !pend.Duplicate || pend.Info.BaseOffset != s.base || pend.Info.LastOffset != s.last {
					t.Fatalf("retry %d of producer %d seq %d: %+v duplicate=%v, want offsets %d-%d",
						i, s.pid, s.seq, pend.Info, pend.Duplicate, s.base, s.last)
				}
			}
			// The one before them is too old to be answered.
			old := history[len(history)-16]
			if _, err := q.Append(idemBatch(old.pid, 1, old.seq, old.n), time.Now()); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("retry of a sixth-newest batch: %v", err)
			}
			if got := q.log.LogEndOffset(); got != leo {
				t.Fatalf("log end offset %d after retries, want %d", got, leo)
			}
			for pid, seq := range seqs {
				if pend := mustAppend(t, q, idemBatch(pid, 1, seq, 1)); pend.Duplicate {
					t.Fatalf("next batch of producer %d taken for a duplicate", pid)
				}
			}
		})
	}
}

func TestPartition_SnapshotsKeptAreBounded(t *testing.T) {
	dir := t.TempDir()
	p := openAt(t, dir, map[string]string{"segment.bytes": "300"})
	for i := range int32(30) {
		mustAppend(t, p, idemBatch(7, 0, 2*i, 2))
	}
	if offs := snapshotsIn(t, dir); len(offs) != snapshotsKept {
		t.Fatalf("snapshots %v, want %d", offs, snapshotsKept)
	}
}

func TestPartition_ProducerExpiration(t *testing.T) {
	p := openTest(t, nil)
	p.SetProducerIDExpiration(time.Hour)
	t0 := time.Now()
	if _, err := p.Append(idemBatch(7, 0, 0, 1), t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Maintain(t0.Add(55*time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if n := p.ProducerCount(); n != 1 {
		t.Fatalf("%d producers before expiry", n)
	}
	if err := p.Maintain(t0.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if n := p.ProducerCount(); n != 1 {
		t.Fatalf("%d producers: checked again sooner than %v after the last check", n, producerExpiryCheckInterval)
	}
	if err := p.Maintain(t0.Add(55*time.Minute+producerExpiryCheckInterval), false); err != nil {
		t.Fatal(err)
	}
	if n := p.ProducerCount(); n != 0 {
		t.Fatalf("%d producers after producer.id.expiration.ms", n)
	}
	// An expired producer is unknown again: any sequence is taken, as in
	// Kafka.
	pend, err := p.Append(idemBatch(7, 0, 40, 1), t0.Add(time.Hour))
	if err != nil || pend.Duplicate {
		t.Fatalf("expired producer's next batch: %+v %v", pend, err)
	}
}

// TestPartition_MaintainSnapshotsAfterTimeRoll: a roll by segment.ms
// happens in Maintain, which then snapshots the changed state; without a
// roll since the last snapshot it writes none.
func TestPartition_MaintainSnapshotsAfterTimeRoll(t *testing.T) {
	dir := t.TempDir()
	p := openAt(t, dir, map[string]string{"segment.ms": "60000"})
	t0 := time.Now()
	mustAppend(t, p, idemBatch(7, 0, 0, 2))
	if offs := snapshotsIn(t, dir); len(offs) != 0 {
		t.Fatalf("snapshots %v before any maintenance", offs)
	}
	// The first pass snapshots the state, there being no snapshot yet.
	if err := p.Maintain(t0, false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, p, idemBatch(7, 0, 2, 2))
	if err := p.Maintain(t0, false); err != nil {
		t.Fatal(err)
	}
	if offs := snapshotsIn(t, dir); len(offs) != 1 || offs[0] != 2 {
		t.Fatalf("snapshots %v without a roll, want [2]", offs)
	}
	if err := p.Maintain(t0.Add(2*time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if offs := snapshotsIn(t, dir); len(offs) != 2 || offs[1] != 4 {
		t.Fatalf("snapshots %v after the roll, want [2 4]", offs)
	}
}

// TestPartition_ConcurrentRetriesAppendOnce: the check and the append are
// one step, so copies of a batch racing each other are written once.
func TestPartition_ConcurrentRetriesAppendOnce(t *testing.T) {
	p := openTest(t, nil)
	const copies = 8
	for seq := int32(0); seq < 20; seq++ {
		var wg sync.WaitGroup
		results := make(chan Pending, copies)
		for range copies {
			b := idemBatch(7, 0, seq, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				pend, err := p.Append(b, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				results <- pend
			}()
		}
		wg.Wait()
		close(results)
		originals := 0
		for pend := range results {
			if !pend.Duplicate {
				originals++
			}
			if pend.Info.BaseOffset != int64(seq) {
				t.Fatalf("seq %d answered with offset %d", seq, pend.Info.BaseOffset)
			}
		}
		if originals != 1 {
			t.Fatalf("seq %d written %d times", seq, originals)
		}
	}
	if leo := p.log.LogEndOffset(); leo != 20 {
		t.Fatalf("log end offset %d, want 20", leo)
	}
}
