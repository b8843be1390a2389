package log

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// powerConfig is a log that rolls every few batches and deletes old
// segments by size, so that a run crosses rolls and retention often.
func powerConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 2 << 10
	c.IndexIntervalBytes = 256
	c.SegmentIndexBytes = 1 << 10
	c.RetentionMs = -1
	c.RetentionBytes = 16 << 10
	return c
}

// powerWorkload is what one run does to the log.
type powerWorkload struct {
	writers, perWriter, phases int
	// syncEvery: a writer Syncs (and then acknowledges) an append with
	// this probability; 0 never (page-cache mode).
	syncEvery float64
	// flushEvery: the maintenance goroutine Syncs the whole log with this
	// probability per round, as flush.ms would.
	flushEvery float64
}

// run appends from several goroutines, phase by phase (each phase a higher
// leader epoch), while a maintenance goroutine enforces retention and
// rolls now and then. It stops early once the power is cut. Errors after
// the cut are expected (the log goes on running on the old tree) and are
// ignored; before it, none is.
func (w powerWorkload) run(t *testing.T, l *Log, rig *powerRig, led *ledger, clock *fakeClock, seed uint64) {
	ctx := context.Background()
	var failed sync.Once
	fail := func(format string, args ...any) {
		if !rig.crashed.Load() {
			failed.Do(func() { t.Errorf(format, args...) })
		}
	}
	stop := make(chan struct{})
	var maint sync.WaitGroup
	maint.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 99))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.EnforceRetention(clock.Now()); err != nil {
				fail("EnforceRetention: %v", err)
			}
			if rng.IntN(20) == 0 {
				if err := l.Roll(); err != nil {
					fail("Roll: %v", err)
				}
			}
			if w.flushEvery > 0 && rng.Float64() < w.flushEvery {
				if err := l.Sync(ctx, l.LogEndOffset()); err != nil {
					fail("Sync: %v", err)
				}
			}
			time.Sleep(50 * time.Microsecond)
		}
	})
	for phase := range w.phases {
		epoch := int32(phase * 2)
		var wg sync.WaitGroup
		for id := range w.writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(seed, uint64(phase*100+id)))
				for i := range w.perWriter {
					if rig.crashed.Load() {
						return
					}
					b := powerBatch(rng, fmt.Sprintf("e%d-w%d-%d", epoch, id, i), clock.Now().UnixMilli())
					info, err := l.Append(b, epoch, -1)
					if err != nil {
						fail("Append: %v", err)
						return
					}
					led.append(info.BaseOffset, b)
					if rng.Float64() < w.syncEvery {
						if err := l.Sync(ctx, info.LastOffset+1); err != nil {
							fail("Sync: %v", err)
							return
						}
						led.ack(info.BaseOffset)
					}
				}
			})
		}
		wg.Wait()
		clock.Advance(time.Second)
	}
	close(stop)
	maint.Wait()
}

// powerBatch is a batch of 1-4 records whose values carry tag, of random
// sizes (one to a few hundred bytes each).
func powerBatch(rng *rand.Rand, tag string, ts int64) []byte {
	recs := make([]record.Record, 1+rng.IntN(4))
	for i := range recs {
		v := append([]byte(tag+"-"), bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, rng.IntN(300))...)
		recs[i] = record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte(fmt.Sprint(i)), Value: v}
	}
	return record.Build(recs, record.BuildOptions{BaseTimestamp: ts})
}

// crashState is what was known at the cut.
type crashState struct {
	acked   map[int64]bool // bases whose Sync had returned
	flushed int64          // FlushedOffset: everything below was fsynced
}

// powerRun is one run: workload, cut, (maybe) a second cut during
// recovery, then the checks. It returns how many appended records the
// crash lost.
func powerRun(t *testing.T, seed uint64, calib []int64, w powerWorkload) (lost int64, counts []int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	rig := newPowerRig(logCrashPoints())
	if calib != nil {
		rig.plan(rng, calib)
	}
	led := newLedger()
	var l *Log
	var st crashState
	rig.onCrash = func() {
		st.acked = led.snapshotAcked()
		if l != nil {
			st.flushed = l.FlushedOffset()
		}
	}
	cfg, clock, decomp := powerConfig(), newClock(), record.NewDecompressor(0)
	if w.syncEvery == 0 {
		cfg.FlushMessages = 1 << 20 // page-cache mode
	}
	l, err := openOn(rig.fs, cfg, clock, decomp, &syncBuffer{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	w.run(t, l, rig, led, clock, seed)
	rig.crash("the end of the workload")
	maxLSO := l.LogStartOffset() // the start offset only grows: a bound for what the cut left
	appendedEnd := l.LogEndOffset()
	crash(l)
	if calib == nil {
		return 0, rig.calibration()
	}

	post, second := rig.post, "no second crash"
	if rng.IntN(3) == 0 {
		post, second = crashDuringRecovery(t, rig.describe(), rng, post, cfg, clock, decomp)
	}
	what := fmt.Sprintf("%s; %s", rig.describe(), second)
	logs := &syncBuffer{}
	l2, err := openOn(post, cfg, clock, decomp, logs)
	if err != nil {
		t.Fatalf("%s: Open after the power loss: %v\nfolder:\n%s", what, err, post)
	}
	defer l2.Close()
	got := checkPowerLoss(t, what, l2, led, st, maxLSO, post, logs)
	if n := len(got); n > 0 {
		h, _ := record.PeekHeader(got[n-1])
		appendedEnd -= h.NextOffset()
	} else {
		appendedEnd -= l2.LogEndOffset()
	}
	checkStillWorks(t, what, l2, post, cfg, clock, decomp, got)
	return appendedEnd, nil
}

// checkPowerLoss checks the reopened log against the ledger and returns
// its batches.
func checkPowerLoss(t *testing.T, what string, l *Log, led *ledger, st crashState, maxLSO int64, post *vfs.MemFS, logs *syncBuffer) [][]byte {
	t.Helper()
	lso, leo := l.LogStartOffset(), l.LogEndOffset()
	fatal := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s\nlog start %d, end %d, flushed at the crash %d\nfolder:\n%s\nrecovery said:\n%s",
			what, fmt.Sprintf(format, args...), lso, leo, st.flushed, post, logs)
	}
	if lso > maxLSO {
		fatal("log start offset %d past any the log ever had (%d)", lso, maxLSO)
	}
	if leo < st.flushed {
		fatal("the log ends at %d, below the flushed offset %d at the crash", leo, st.flushed)
	}
	got := readAll(t, l) // valid batches, contiguous offsets
	present := map[int64]bool{}
	for _, b := range got {
		h, _ := record.PeekHeader(b)
		present[h.BaseOffset] = true
		if want, ok := led.appended[h.BaseOffset]; !ok || !bytes.Equal(b, want) {
			fatal("batch at offset %d is not the batch appended there (appended: %v)", h.BaseOffset, ok)
		}
	}
	for base := range st.acked {
		if base >= lso && !present[base] {
			fatal("acknowledged batch at offset %d is missing", base)
		}
	}
	// The leader epoch cache must describe the batches that are there:
	// each batch's epoch is the cache's epoch at its offset, and every
	// entry above the log start is where the batches change epoch. (An
	// entry at the log start may remember the epoch of deleted records,
	// as Kafka's truncateFromStart keeps it.)
	l.mu.Lock()
	cache := slices.Clone(l.epochs.entries)
	l.mu.Unlock()
	starts := map[int64]int32{} // where the batches change epoch
	prev := int32(-1)
	for _, b := range got {
		h, _ := record.PeekHeader(b)
		i := slices.IndexFunc(cache, func(e epochEntry) bool { return e.start > h.BaseOffset }) // first entry after
		if i < 0 {
			i = len(cache)
		}
		if i == 0 || cache[i-1].epoch != h.PartitionLeaderEpoch {
			fatal("batch at %d has leader epoch %d; the epoch cache %v says otherwise", h.BaseOffset, h.PartitionLeaderEpoch, cache)
		}
		if h.PartitionLeaderEpoch != prev {
			starts[h.BaseOffset], prev = h.PartitionLeaderEpoch, h.PartitionLeaderEpoch
		}
	}
	for _, e := range cache {
		if epoch, ok := starts[e.start]; e.start > lso && (!ok || epoch != e.epoch) {
			fatal("epoch cache entry %v is not where the batches change epoch (cache %v)", e, cache)
		}
	}
	return got
}

// checkStillWorks appends to the recovered log, closes it and reopens it:
// it must hold what it held plus the new batch.
func checkStillWorks(t *testing.T, what string, l *Log, post *vfs.MemFS, cfg Config, clock *fakeClock, decomp *record.Decompressor, got [][]byte) {
	t.Helper()
	epoch := max(l.LatestEpoch(), 0)
	b := batch(2, "after", clock.Now().UnixMilli())
	info, err := l.Append(b, epoch, -1)
	if err != nil {
		t.Fatalf("%s: append after recovery: %v", what, err)
	}
	if err := l.Sync(context.Background(), info.LastOffset+1); err != nil {
		t.Fatalf("%s: sync after recovery: %v", what, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("%s: close after recovery: %v", what, err)
	}
	l3, err := openOn(post, cfg, clock, decomp, &syncBuffer{})
	if err != nil {
		t.Fatalf("%s: reopen after recovery: %v", what, err)
	}
	defer l3.Close()
	again := readAll(t, l3)
	if want := append(slices.Clone(got), b); !slices.EqualFunc(again, want, bytes.Equal) {
		t.Fatalf("%s: after an append and a clean reopen the log holds %d batches, want %d", what, len(again), len(want))
	}
}

// TestPowerLoss_AckedAppendsSurvive is the durability promise under
// power loss: with flush.messages=1, writers acknowledge an append only
// after Sync returns; the power is cut at a random file-system operation
// (anywhere, or inside a roll, a retention deletion, an fsync, a leader
// epoch checkpoint), unsynced changes dropped or partly kept; sometimes
// the power goes again during recovery. The log must then open without
// error, hold every acknowledged batch (at or above its start offset) at
// its offset byte for byte, hold nothing it was not given, keep offsets
// contiguous and its leader epoch cache true, and keep working.
func TestPowerLoss_AckedAppendsSurvive(t *testing.T) {
	seed := crashSeed(t)
	w := powerWorkload{writers: 3, perWriter: 30, phases: 2, syncEvery: 0.8, flushEvery: 0}
	_, calib := powerRun(t, seed, nil, w)
	t.Logf("operations per crash point in a run: %v", calib)
	for run := range crashRuns(t, 80) {
		powerRun(t, seed+uint64(run)+1, calib, w)
		if t.Failed() {
			t.Fatalf("run %d failed (seed %d)", run, seed)
		}
	}
}

// TestPowerLoss_PageCacheMode: with Kafka's page-cache durability
// (flush.messages > 1, no Sync before acknowledging), a power loss may
// take the unflushed tail, but what is left is a prefix of what was
// appended: valid, contiguous, byte for byte, everything below the
// flushed offset of the moment kept, and the log opens and works.
func TestPowerLoss_PageCacheMode(t *testing.T) {
	seed := crashSeed(t)
	w := powerWorkload{writers: 2, perWriter: 30, phases: 2, syncEvery: 0, flushEvery: 0.05}
	_, calib := powerRun(t, seed, nil, w)
	var lost int64
	for run := range crashRuns(t, 40) {
		n, _ := powerRun(t, seed+uint64(run)+1, calib, w)
		lost += n
		if t.Failed() {
			t.Fatalf("run %d failed (seed %d)", run, seed)
		}
	}
	t.Logf("records lost to power cuts over all runs: %d", lost)
	if lost == 0 {
		t.Fatal("no run lost an unflushed record: the crashes are not dropping unsynced data")
	}
}
