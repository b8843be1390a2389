package log

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// The power-loss tests run a workload on a vfs.MemFS, cut the power at a
// chosen file-system operation (vfs.MemFS.CrashClone inside a vfs.Inject
// hook), reopen the log on what the crash left, and check it against what
// was acknowledged before the cut. A test's seed is logged; set
// FJORD_CRASH_SEED to replay it and FJORD_CRASH_RUNS to run more (or
// fewer) crashes. The goroutines' interleaving is not replayed, so a replay
// is likely, not certain, to fail the same way.

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

// crashRuns returns FJORD_CRASH_RUNS, or def.
func crashRuns(t *testing.T, def int) int {
	t.Helper()
	if s := os.Getenv("FJORD_CRASH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("FJORD_CRASH_RUNS=%q: want a positive number", s)
		}
		return n
	}
	return def
}

// crashPoint is a class of file-system operations to cut the power at:
// a run picks a class and the n-th mutating operation of it.
type crashPoint struct {
	name   string
	filter func(op vfs.Op) bool
}

func suffixed(p string, sufs ...string) bool {
	for _, s := range sufs {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// logCrashPoints are the classes of the append workloads.
func logCrashPoints() []crashPoint {
	return []crashPoint{
		{"any", func(vfs.Op) bool { return true }},
		// A roll: the new segment's creation and the old one's index files.
		{"roll", func(op vfs.Op) bool {
			return suffixed(op.Path, indexSuffix, timeIndexSuffix) ||
				op.Kind == vfs.OpOpen && op.Flag&os.O_CREATE != 0 && suffixed(op.Path, logSuffix)
		}},
		// Retention: segment deletions and the checkpoint that follows.
		{"retention", func(op vfs.Op) bool {
			return op.Kind == vfs.OpRemove || suffixed(op.Path, checkpointFile, checkpointFile+tmpSuffix)
		}},
		{"fsync", func(op vfs.Op) bool { return op.Kind == vfs.OpSync || op.Kind == vfs.OpSyncDir }},
		{"epoch-checkpoint", func(op vfs.Op) bool {
			return suffixed(op.Path, epochCheckpointFile, epochCheckpointFile+tmpSuffix)
		}},
	}
}

// powerRig is one run's file system: a MemFS behind an injector that
// counts mutating operations per crash point and cuts the power at the
// chosen one.
type powerRig struct {
	mem    *vfs.MemFS
	fs     vfs.FS
	points []crashPoint
	counts []atomic.Int64

	point int   // index into points of the chosen class; -1: no cut
	at    int64 // the cut happens before that class's at-th operation
	opts  vfs.CrashOptions
	// onCrash runs just before the clone is taken, in whatever goroutine
	// hit the operation (possibly under Log.mu: it must not call the
	// log's locking methods). It snapshots what was acknowledged.
	onCrash func()

	once    sync.Once
	crashed atomic.Bool
	post    *vfs.MemFS // what the power loss left
	where   string     // the operation it happened at
}

func newPowerRig(points []crashPoint) *powerRig {
	r := &powerRig{mem: vfs.NewMem(), points: points, counts: make([]atomic.Int64, len(points)), point: -1}
	r.fs = vfs.Inject(r.mem, r.inject)
	return r
}

// plan picks the crash point from a calibration run's counts; a tenth of
// the runs cut the power only once the workload is over.
func (r *powerRig) plan(rng *rand.Rand, calib []int64) {
	if rng.IntN(10) > 0 {
		r.point = rng.IntN(len(r.points))
		if n := calib[r.point]; n > 0 {
			r.at = 1 + rng.Int64N(n)
		} else {
			r.point = -1
		}
	}
	if rng.IntN(2) == 0 {
		r.opts.Rand = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	}
}

func (r *powerRig) inject(op vfs.Op) error {
	if !op.Kind.Mutates() || r.crashed.Load() {
		return nil
	}
	for i, p := range r.points {
		if p.filter(op) {
			if n := r.counts[i].Add(1); i == r.point && n == r.at {
				r.crash(fmt.Sprintf("%s %s (%s #%d)", op.Kind, op.Path, p.name, n))
			}
		}
	}
	return nil
}

// crash cuts the power now (once).
func (r *powerRig) crash(where string) {
	r.once.Do(func() {
		if r.onCrash != nil {
			r.onCrash()
		}
		r.where = where
		r.post = r.mem.CrashClone(r.opts)
		r.crashed.Store(true)
	})
}

// calibration returns the operation counts of a run without a cut.
func (r *powerRig) calibration() []int64 {
	out := make([]int64, len(r.counts))
	for i := range r.counts {
		out[i] = r.counts[i].Load()
	}
	return out
}

// describe says what a run did, for failure messages.
func (r *powerRig) describe() string {
	mode := "strict"
	if r.opts.Rand != nil {
		mode = "torn"
	}
	return fmt.Sprintf("crash (%s) at %s", mode, r.where)
}

// ledger records what a workload appended and what was acknowledged.
type ledger struct {
	mu       sync.Mutex
	appended map[int64][]byte // base offset -> the batch as stored
	acked    map[int64]bool   // base offsets whose Sync returned
}

func newLedger() *ledger {
	return &ledger{appended: map[int64][]byte{}, acked: map[int64]bool{}}
}

// append records a batch Append accepted (b holds its stamped bytes).
func (g *ledger) append(base int64, b []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.appended[base] = append([]byte(nil), b...)
}

func (g *ledger) ack(base int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.acked[base] = true
}

// snapshotAcked copies the acknowledged bases.
func (g *ledger) snapshotAcked() map[int64]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[int64]bool, len(g.acked))
	for k := range g.acked {
		out[k] = true
	}
	return out
}

// openOn opens a log on fsys at the rig's folder.
func openOn(fsys vfs.FS, cfg Config, clock *fakeClock, decomp *record.Decompressor, logs *syncBuffer) (*Log, error) {
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return Open(powerDir, cfg, Options{Logger: logger, Now: clock.Now, Decompressor: decomp, FS: fsys})
}

// powerDir is the log's folder on the MemFS: two levels, so that Open
// must make new folders durable in their parents.
const powerDir = "/data/topic-0"

// crashDuringRecovery opens a log on post while cutting the power at a
// random mutating operation of the recovery itself, and returns what
// that second crash left (post itself when recovery wrote nothing).
func crashDuringRecovery(t *testing.T, what string, rng *rand.Rand, post *vfs.MemFS, cfg Config, clock *fakeClock, decomp *record.Decompressor) (*vfs.MemFS, string) {
	t.Helper()
	count := func(fsys *vfs.MemFS, at int64) (*vfs.MemFS, int64) {
		var n atomic.Int64
		var second *vfs.MemFS
		inj := vfs.Inject(fsys, func(op vfs.Op) error {
			if op.Kind.Mutates() && n.Add(1) == at {
				second = fsys.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(uint64(at), 7))})
			}
			return nil
		})
		l, err := openOn(inj, cfg, clock, decomp, &syncBuffer{})
		if err != nil {
			t.Fatalf("%s: recovery on the crashed folder: %v\n%s", what, err, fsys)
		}
		crash(l)
		return second, n.Load()
	}
	// Everything in a crash clone is durable: cloning it again copies it.
	_, ops := count(post.CrashClone(vfs.CrashOptions{}), 0)
	if ops == 0 {
		return post, "recovery wrote nothing"
	}
	at := 1 + rng.Int64N(ops)
	second, _ := count(post.CrashClone(vfs.CrashOptions{}), at)
	return second, fmt.Sprintf("second crash at recovery operation %d of %d", at, ops)
}
