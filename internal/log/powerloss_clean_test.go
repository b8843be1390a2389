package log

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// cleanCrashPoints are the classes of the compaction workload: anywhere,
// or in a clean's files and swap (cleaned files, the manifest, the
// cleaner checkpoint, the renames and deletions of the swap).
func cleanCrashPoints() []crashPoint {
	return []crashPoint{
		{"any", func(vfs.Op) bool { return true }},
		{"clean", func(op vfs.Op) bool {
			return op.Kind == vfs.OpRename || op.Kind == vfs.OpRemove ||
				strings.Contains(op.Path, cleanedSuffix) || strings.Contains(op.Path, swapManifestFile) ||
				strings.Contains(op.Path, cleanerCheckpointFile)
		}},
	}
}

// cleanPowerRun appends keyed records, each acknowledged after its Sync,
// while a cleaner goroutine compacts below the flushed offset; the power
// is cut at the planned operation. It returns the calibration counts when
// calib is nil.
func cleanPowerRun(t *testing.T, seed uint64, calib []int64) (counts []int64, cleans int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	rig := newPowerRig(cleanCrashPoints())
	if calib != nil {
		rig.plan(rng, calib)
	}
	cfg, clock, decomp := compactConfig(), newClock(), record.NewDecompressor(0)
	var l *Log
	var appended sync.Map  // offset -> seenRec
	var acked atomic.Int64 // every offset below was acknowledged
	var durable int64      // at the cut: max(acknowledged, flushed)
	rig.onCrash = func() {
		durable = acked.Load()
		if l != nil {
			durable = max(durable, l.FlushedOffset())
		}
	}
	l, err := openOn(rig.fs, cfg, clock, decomp, &syncBuffer{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx := context.Background()
	stop := make(chan struct{})
	var cleaner sync.WaitGroup
	cleaner.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := l.Clean(ctx, CleanOptions{Now: clock.Now(), HighWatermark: l.FlushedOffset()})
			if st.Cleaned {
				cleans++
			}
			if err != nil && !rig.crashed.Load() {
				t.Errorf("Clean: %v", err)
				return
			}
			runtime.Gosched()
		}
	})
	for i := 0; i < 150 && !rig.crashed.Load(); i++ {
		recs := make([]kv, 1+rng.IntN(3))
		for j := range recs {
			recs[j] = kv{[]byte(fmt.Sprintf("k%d", rng.IntN(8))), []byte(fmt.Sprintf("v%d-%d-%s", i, j, strings.Repeat("x", rng.IntN(60))))}
		}
		ts := clock.Now().UnixMilli()
		info, err := l.Append(keyedBatch(recs, ts, record.BuildOptions{}), 0, -1)
		if err != nil {
			if !rig.crashed.Load() {
				t.Errorf("Append: %v", err)
			}
			break
		}
		for j, r := range recs {
			off := info.BaseOffset + int64(j)
			appended.Store(off, seenRec{off: off, key: r.key, value: r.value, ts: ts + int64(j)})
		}
		if err := l.Sync(ctx, info.LastOffset+1); err != nil {
			if !rig.crashed.Load() {
				t.Errorf("Sync: %v", err)
			}
			break
		}
		acked.Store(info.LastOffset + 1)
		clock.Advance(10 * time.Millisecond)
		if i%10 == 9 {
			time.Sleep(200 * time.Microsecond) // let the cleaner catch up
		}
	}
	close(stop)
	cleaner.Wait()
	rig.crash("the end of the workload")
	crash(l)
	if calib == nil {
		return rig.calibration(), cleans
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
	checkCompactedPowerLoss(t, what, l2, post, logs, &appended, durable)
	return nil, cleans
}

// checkCompactedPowerLoss: every record left is one that was appended at
// that offset, no leftover of a clean remains, and every record below the
// durable offset is there unless a later record of its key is.
func checkCompactedPowerLoss(t *testing.T, what string, l *Log, post *vfs.MemFS, logs *syncBuffer, appended *sync.Map, durable int64) {
	t.Helper()
	fatal := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s\nlog start %d, end %d, durable at the crash %d\nfolder:\n%s\nrecovery said:\n%s",
			what, fmt.Sprintf(format, args...), l.LogStartOffset(), l.LogEndOffset(), durable, post, logs)
	}
	if l.LogEndOffset() < durable {
		fatal("the log ends below the durable offset")
	}
	got := readRecords(t, l) // valid batches, increasing offsets
	newest := map[string]int64{}
	present := map[int64]bool{}
	for _, r := range got {
		v, ok := appended.Load(r.off)
		if !ok || !equalRec(r, v.(seenRec)) {
			fatal("record %v is not the record appended at its offset (%v)", r, v)
		}
		present[r.off] = true
		newest[string(r.key)] = max(newest[string(r.key)], r.off)
	}
	lso := l.LogStartOffset()
	appended.Range(func(k, v any) bool {
		off, r := k.(int64), v.(seenRec)
		if off >= lso && off < durable && !present[off] && newest[string(r.key)] <= off {
			fatal("durable record %v is gone and no later record of its key is there", r)
		}
		return true
	})
	ents, err := post.ReadDir(powerDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), cleanedSuffix) || e.Name() == swapManifestFile || strings.HasSuffix(e.Name(), tmpSuffix) {
			fatal("leftover %s after recovery", e.Name())
		}
	}
	// The log still works and still compacts.
	info, err := l.Append(keyedBatch([]kv{{[]byte("k0"), []byte("after")}}, 0, record.BuildOptions{}), 0, -1)
	if err == nil {
		err = l.Sync(context.Background(), info.LastOffset+1)
	}
	if err == nil {
		_, err = l.Clean(context.Background(), CleanOptions{Now: time.UnixMilli(1 << 50), HighWatermark: l.LogEndOffset()})
	}
	if err != nil {
		fatal("the recovered log fails: %v", err)
	}
	if after := readRecords(t, l); len(after) == 0 || !bytes.Equal(after[len(after)-1].value, []byte("after")) {
		fatal("the recovered log lost the record appended after recovery")
	}
}

// TestPowerLoss_Compaction cuts the power while a cleaner compacts a log
// that is being appended to (often inside a clean's swap: cleaned files,
// manifest, renames, deletions, cleaner checkpoint). After recovery the
// log holds only records that were appended at their offsets, every
// acknowledged record is there or superseded by a later one of its key,
// no clean leaves anything behind, and the log appends and compacts.
func TestPowerLoss_Compaction(t *testing.T) {
	seed := crashSeed(t)
	calib, cleans := cleanPowerRun(t, seed, nil)
	t.Logf("operations per crash point in a run: %v; cleans: %d", calib, cleans)
	if cleans == 0 {
		t.Fatal("the calibration run did not clean")
	}
	for run := range crashRuns(t, 40) {
		cleanPowerRun(t, seed+uint64(run)+1, calib)
		if t.Failed() {
			t.Fatalf("run %d failed (seed %d)", run, seed)
		}
	}
}
