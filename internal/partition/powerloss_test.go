package partition

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/vfs"
)

// The power-loss tests of the replica manager run it on a vfs.MemFS and
// cut the power (MemFS.CrashClone: every write not fsynced is lost, and
// every folder entry not fsynced in its folder) at each file-system
// operation of a workload in turn: creating a topic's partition folder,
// appending idempotent batches across segment rolls (which write producer
// snapshots), checkpointing the high watermark, closing. A new manager on
// what the crash left must open the partition as the metadata replay would
// and hold every acknowledged batch at its offset, and recognise a retry
// of an acknowledged batch as a duplicate. Each cut is taken twice: once
// losing every unsynced change, once keeping a random prefix of them (the
// page cache partly written back); the seed is logged and
// FJORD_CRASH_SEED replays it.

const powerDataDir = "/data"

// powerManager returns a manager of /data on fsys, the folder made as a
// node makes it.
func powerManager(t *testing.T, fsys vfs.FS) *Manager {
	t.Helper()
	if err := metadata.MkdirAll(fsys, powerDataDir); err != nil {
		t.Fatal(err)
	}
	return NewManager(ManagerConfig{Dir: powerDataDir, NodeID: 1, FS: fsys}, slog.New(slog.DiscardHandler))
}

// ackedBatch is a batch whose append was durable (Pending.Wait returned)
// before the power cut.
type ackedBatch struct {
	base  int64
	seq   int32
	n     int
	bytes []byte
}

// crashSeed returns FJORD_CRASH_SEED, or a fresh seed, and logs it.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("FJORD_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FJORD_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with FJORD_CRASH_SEED=%d)", seed, seed)
	return seed
}

func TestManager_PowerLossAtEveryOperation(t *testing.T) {
	seed := crashSeed(t)
	id := ID{"orders", 0}
	topicID := metadata.TopicID{7}
	cfg := topicConfig(t, map[string]string{"segment.bytes": "600"})
	const batches = 12
	for step := 1; ; step++ {
		mem := vfs.NewMem()
		var crashed, torn *vfs.MemFS
		ops := 0
		fsys := vfs.Inject(mem, func(op vfs.Op) error {
			if op.Kind.Mutates() && crashed == nil {
				if ops++; ops == step {
					crashed = mem.CrashClone(vfs.CrashOptions{})
					torn = mem.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, uint64(step)))})
				}
			}
			return nil
		})
		var acked, all []ackedBatch
		m := powerManager(t, fsys)
		p, err := m.Create(id, topicID, cfg, 0)
		if err != nil {
			t.Fatal(err)
		}
		seq := int32(0)
		for i := range batches {
			n := 1 + i%3
			b := idemBatch(9, 0, seq, n)
			pend := mustAppend(t, p, b)
			a := ackedBatch{base: pend.Info.BaseOffset, seq: seq, n: n, bytes: b}
			if crashed == nil {
				acked = append(acked, a)
			}
			all = append(all, a)
			seq += int32(n)
			if i == batches/2 {
				p.Maintain(time.Now().Add(time.Minute), false) // high-watermark checkpoint
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if crashed == nil {
			if step < 20 {
				t.Fatalf("the workload made only %d file-system changes", step-1)
			}
			t.Logf("cut the power at each of %d operations", step-1)
			return
		}
		checkAfterPowerLoss(t, step, crashed, id, topicID, acked, all)
		checkAfterPowerLoss(t, step, torn, id, topicID, acked, all)
	}
}

// checkAfterPowerLoss opens the partition on what the crash left and
// checks the acknowledged batches (all: every batch appended, in order).
func checkAfterPowerLoss(t *testing.T, step int, fsys *vfs.MemFS, id ID, topicID metadata.TopicID, acked, all []ackedBatch) {
	t.Helper()
	m := powerManager(t, fsys)
	defer m.Close()
	p, err := m.Create(id, topicID, topicConfig(t, map[string]string{"segment.bytes": "600"}), 0)
	if err != nil {
		t.Fatalf("crash at operation %d: reopening: %v\n%s", step, err, fsys)
	}
	if len(acked) == 0 {
		return
	}
	last := acked[len(acked)-1]
	if leo := p.LogEndOffset(); leo < last.base+int64(last.n) {
		t.Fatalf("crash at operation %d: log end offset %d, but offsets up to %d were acknowledged\n%s", step, leo, last.base+int64(last.n), fsys)
	}
	for _, a := range acked {
		got, err := p.Read(a.base, int32(len(a.bytes)), true, nil)
		if err != nil {
			t.Fatalf("crash at operation %d: reading offset %d: %v", step, a.base, err)
		}
		// The log stamps the base offset and leader epoch; compare the
		// records part (after the header up to the CRC-covered fields).
		if len(got) < len(a.bytes) || !bytes.Equal(got[21:len(a.bytes)], a.bytes[21:]) {
			t.Fatalf("crash at operation %d: batch at offset %d differs from the acknowledged one", step, a.base)
		}
	}
	// The acknowledged batches among the last five in the log (the
	// producer state keeps five; batches written but not acknowledged
	// before the cut may follow them) still de-duplicate: the state was
	// rebuilt from a snapshot and the log.
	inLog := 0
	for inLog < len(all) && all[inLog].base < p.LogEndOffset() {
		inLog++
	}
	for _, a := range all[max(inLog-5, 0):min(inLog, len(acked))] {
		pend, err := p.Append(idemBatch(9, 0, a.seq, a.n), time.Now())
		if err != nil {
			t.Fatalf("crash at operation %d: retry of sequence %d: %v", step, a.seq, err)
		}
		if !pend.Duplicate || pend.Info.BaseOffset != a.base {
			t.Fatalf("crash at operation %d: retry of sequence %d answered %+v (duplicate %v), acknowledged at %d", step, a.seq, pend.Info, pend.Duplicate, a.base)
		}
	}
}

// A topic deleted and created again under the same name, with the power
// cut after both metadata changes were committed but before this node
// removed the old replica: the replay of the metadata creates the new
// topic's replica where the old folder still is, and it must start empty,
// not with the deleted topic's records.
func TestManager_RecreatedTopicAfterPowerLoss(t *testing.T) {
	mem := vfs.NewMem()
	m := powerManager(t, mem)
	id := ID{"orders", 0}
	cfg := topicConfig(t, nil)
	p, err := m.Create(id, metadata.TopicID{1}, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, p, batch(3, time.Now().UnixMilli()))
	crashed := mem.CrashClone(vfs.CrashOptions{})
	m2 := powerManager(t, crashed)
	defer m2.Close()
	q, err := m2.Create(id, metadata.TopicID{2}, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if leo := q.LogEndOffset(); leo != 0 {
		t.Fatalf("the new topic's replica holds %d records of the deleted one", leo)
	}
}

// A replica's removal cut at each of its file-system operations, or
// failing after the folder was renamed away (a real file system's removal
// unlinks one file at a time, so a crash can leave part of it): after the
// restart the partition's name is free, and RemoveOrphans, with the topic
// gone from the metadata, leaves nothing of it.
func TestManager_RemovalCutAtEveryOperation(t *testing.T) {
	id := ID{"orders", 0}
	cfg := topicConfig(t, nil)
	for step := 1; ; step++ {
		mem := vfs.NewMem()
		armed := false
		var crashed *vfs.MemFS
		ops := 0
		fsys := vfs.Inject(mem, func(op vfs.Op) error {
			if !armed || !op.Kind.Mutates() || crashed != nil {
				return nil
			}
			if ops++; ops == step {
				crashed = mem.CrashClone(vfs.CrashOptions{})
				return vfs.ErrInjected // the removal stops here
			}
			return nil
		})
		m := powerManager(t, fsys)
		p, err := m.Create(id, metadata.TopicID{1}, cfg, 0)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, p, batch(3, time.Now().UnixMilli()))
		armed = true
		rerr := m.Remove(id)
		if crashed == nil {
			if rerr != nil {
				t.Fatal(rerr)
			}
			if entries, _ := mem.ReadDir(powerDataDir); len(entries) != 0 {
				t.Fatalf("the removal left %v", entries)
			}
			t.Logf("cut the removal at each of %d operations", step-1)
			return
		}
		// Both what the cut left and what the failed removal left.
		for _, fs := range []*vfs.MemFS{crashed, mem} {
			m2 := powerManager(t, fs)
			if err := m2.RemoveOrphans(metadata.NewImage("c")); err != nil {
				t.Fatalf("cut at operation %d: RemoveOrphans: %v", step, err)
			}
			if entries, _ := fs.ReadDir(powerDataDir); len(entries) != 0 {
				t.Fatalf("cut at operation %d: RemoveOrphans left %v", step, entries)
			}
		}
	}
}

// A broker down while its replica was reassigned away missed the change
// that deletes it: at start-up RemoveOrphans deletes that folder (a stray
// replica) and keeps the folders of partitions still assigned here.
func TestManager_RemoveOrphansDeletesReplicasReassignedAway(t *testing.T) {
	mem := vfs.NewMem()
	m := powerManager(t, mem)
	cfg := topicConfig(t, nil)
	movedID, keptID := metadata.TopicID{1}, metadata.TopicID{2}
	for _, c := range []struct {
		id  ID
		tid metadata.TopicID
	}{{ID{"moved-topic", 0}, movedID}, {ID{"moved-topic", 1}, movedID}, {ID{"kept", 0}, keptID}} {
		if _, err := m.Create(c.id, c.tid, cfg, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	d := metadata.NewDelta(metadata.NewImage("c"))
	for _, r := range []metadata.Record{
		&metadata.TopicRecord{Name: "moved-topic", TopicID: movedID},
		&metadata.PartitionRecord{TopicID: movedID, PartitionID: 0, Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2},
		&metadata.PartitionRecord{TopicID: movedID, PartitionID: 1, Replicas: []int32{3, 1}, ISR: []int32{3, 1}, Leader: 3},
		&metadata.TopicRecord{Name: "kept", TopicID: keptID},
		&metadata.PartitionRecord{TopicID: keptID, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
	} {
		if err := d.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	m2 := powerManager(t, mem)
	if err := m2.RemoveOrphans(d.Apply()); err != nil {
		t.Fatal(err)
	}
	entries, _ := mem.ReadDir(powerDataDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"kept-0", "moved-topic-1"}) {
		t.Fatalf("left %v, want [kept-0 moved-topic-1]", names)
	}
}
