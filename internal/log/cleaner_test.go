package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/record"
)

// kv is one record of a test batch; a nil value is a tombstone.
type kv struct {
	key, value []byte
}

// keyedBatch builds a batch of recs with timestamps ts, ts+1, ...
func keyedBatch(recs []kv, ts int64, opts record.BuildOptions) []byte {
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: r.key, Value: r.value}
	}
	opts.BaseTimestamp = ts
	return record.Build(rs, opts)
}

// seenRec is a record as read back, with its absolute offset.
type seenRec struct {
	off        int64
	key, value []byte
	ts         int64
}

func (r seenRec) String() string { return fmt.Sprintf("%d:%s=%s@%d", r.off, r.key, r.value, r.ts) }

func equalRec(a, b seenRec) bool {
	return a.off == b.off && bytes.Equal(a.key, b.key) && bytes.Equal(a.value, b.value) &&
		(a.value == nil) == (b.value == nil) && a.ts == b.ts
}

// decodeBatches appends the records of back-to-back batches, checking each
// batch is valid and offsets increase.
func decodeBatches(t testing.TB, b []byte, out []seenRec) ([]seenRec, int64) {
	t.Helper()
	next := int64(-1)
	for len(b) > 0 {
		h, recs, err := record.Records(b)
		if err != nil {
			t.Fatalf("batch: %v", err)
		}
		if err := validateStored(b[:h.Size()], nil); err != nil {
			t.Fatalf("batch at %d invalid: %v", h.BaseOffset, err)
		}
		for _, r := range recs {
			ts := h.BaseTimestamp + r.TimestampDelta
			if h.TimestampType() == record.LogAppendTime {
				ts = h.MaxTimestamp
			}
			s := seenRec{off: h.BaseOffset + int64(r.OffsetDelta), key: r.Key, value: r.Value, ts: ts}
			if n := len(out); n > 0 && s.off <= out[n-1].off {
				t.Fatalf("offset %d after %d", s.off, out[n-1].off)
			}
			out = append(out, s)
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return out, next
}

// readRecords reads every record of the log with Read, across gaps.
func readRecords(t testing.TB, l *Log) []seenRec {
	t.Helper()
	var out []seenRec
	off, leo := l.LogStartOffset(), l.LogEndOffset()
	for off < leo {
		b, err := l.Read(off, 1<<16, leo, true, nil)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(b) == 0 {
			break
		}
		var next int64
		out, next = decodeBatches(t, b, out)
		off = next
	}
	return out
}

// compactConfig is testConfig with compaction on and every dirty byte
// worth a clean.
func compactConfig() Config {
	c := testConfig()
	c.SegmentBytes = 2 << 10
	c.CleanupPolicy = PolicyCompact
	c.MinCleanableDirtyRatio = 0.01
	c.DeleteRetention = time.Hour
	return c
}

// workload appends n random keyed batches (tombstones, codecs, producer
// ids), advancing the clock a second per batch, and returns every record
// written by offset.
func workload(t testing.TB, e *testEnv, l *Log, seed uint64, n int) map[int64]seenRec {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	codecs := []record.Codec{record.CodecNone, record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd}
	model := map[int64]seenRec{}
	seq := int32(0)
	for range n {
		recs := make([]kv, 1+rng.IntN(4))
		for i := range recs {
			k := []byte(fmt.Sprintf("k%02d", rng.IntN(20)))
			var v []byte
			if rng.IntN(7) != 0 {
				v = []byte(fmt.Sprintf("v%d-%s", rng.Uint32(), strings.Repeat("x", rng.IntN(40))))
			}
			recs[i] = kv{k, v}
		}
		ts := e.clock.Now().UnixMilli()
		opts := record.BuildOptions{Codec: codecs[rng.IntN(len(codecs))], XerialSnappy: true}
		if rng.IntN(3) == 0 {
			opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = 0, 0, seq
			seq += int32(len(recs))
		}
		info := mustAppend(t, l, keyedBatch(recs, ts, opts), 0)
		for i, r := range recs {
			off := info.BaseOffset + int64(i)
			model[off] = seenRec{off: off, key: r.key, value: r.value, ts: ts + int64(i)}
		}
		e.clock.Advance(time.Second)
	}
	return model
}

func checkRecords(t testing.TB, got, want []seenRec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		if !equalRec(got[i], want[i]) {
			t.Fatalf("record %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func activeBytes(t testing.TB, l *Log) []byte {
	t.Helper()
	segs := l.Segments()
	b, err := os.ReadFile(segs[len(segs)-1].Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustClean(t testing.TB, l *Log, now time.Time, thr *Throttle) CleanStats {
	t.Helper()
	st, err := l.Clean(context.Background(), CleanOptions{Now: now, HighWatermark: math.MaxInt64, Throttle: thr})
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	return st
}

func TestParseCleanupPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CleanupPolicy
		ok   bool
	}{
		{"delete", PolicyDelete, true},
		{"compact", PolicyCompact, true},
		{"compact,delete", PolicyCompact | PolicyDelete, true},
		{"delete, compact", PolicyCompact | PolicyDelete, true},
		{"", PolicyNone, true},
		{" ", PolicyNone, true},
		{"compact,", 0, false},
		{"compact,bogus", 0, false},
	} {
		got, err := ParseCleanupPolicy(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseCleanupPolicy(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok {
			if back, _ := ParseCleanupPolicy(got.String()); back != got {
				t.Errorf("%v does not round-trip", got)
			}
		}
	}
	if (Config{CleanupPolicy: PolicyNone}).normalized().CleanupPolicy != PolicyNone {
		t.Error("an empty cleanup.policy does not stay empty")
	}
	if (Config{}).normalized().CleanupPolicy != PolicyDelete {
		t.Error("zero policy is not delete")
	}
}

// TestCleanRebuiltBatch checks a partly kept batch: runs of consecutive
// offsets, codec, producer fields (including the all-zero triple), and a
// LogAppendTime maxTimestamp.
func TestCleanRebuiltBatch(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecZstd, record.CodecSnappy} {
		t.Run(codec.String(), func(t *testing.T) {
			e := newEnv(t, compactConfig())
			l := e.open()
			defer l.Close()
			ts := e.clock.Now().UnixMilli()
			b := keyedBatch([]kv{{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("1")}, {[]byte("c"), []byte("1")}, {[]byte("d"), []byte("1")}},
				ts, record.BuildOptions{Codec: codec, XerialSnappy: true})
			be := b[hdrProducerID:]
			clear(be[:14]) // producer id 0, epoch 0, sequence 0
			record.SetMaxTimestamp(b, ts)
			mustAppend(t, l, b, 0)
			if _, err := l.Append(keyedBatch([]kv{{[]byte("b"), []byte("2")}}, ts, record.BuildOptions{}), 0, ts+50); err != nil {
				t.Fatal(err)
			}
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			mustClean(t, l, e.clock.Now(), nil)
			out, err := l.Read(0, 1<<20, l.LogEndOffset(), true, nil)
			if err != nil {
				t.Fatal(err)
			}
			var hs []record.Header
			for p := out; len(p) > 0; {
				h, _ := record.PeekHeader(p)
				hs = append(hs, h)
				p = p[h.Size():]
			}
			if len(hs) != 3 || hs[0].BaseOffset != 0 || hs[1].BaseOffset != 2 || hs[1].LastOffset() != 3 || hs[2].BaseOffset != 4 {
				t.Fatalf("batches %+v", hs)
			}
			for _, h := range hs[:2] {
				if h.Compression() != codec || h.ProducerID != 0 || h.ProducerEpoch != 0 {
					t.Fatalf("rebuilt header %+v", h)
				}
			}
			if hs[0].BaseSequence != 0 || hs[1].BaseSequence != 2 {
				t.Fatalf("sequences %d %d", hs[0].BaseSequence, hs[1].BaseSequence)
			}
			if hs[2].TimestampType() != record.LogAppendTime || hs[2].MaxTimestamp != ts+50 {
				t.Fatalf("log append time batch %+v", hs[2])
			}
			got, _ := decodeBatches(t, out, nil)
			if len(got) != 4 || string(got[1].key) != "c" || string(got[3].value) != "2" {
				t.Fatalf("records %v", got)
			}
		})
	}
}

// TestCleanConcurrentReads reads the log in a loop while it is cleaned,
// and holds pinned slices across a clean: every record seen is the
// original at its offset.
func TestCleanConcurrentReads(t *testing.T) {
	e := newEnv(t, compactConfig())
	l := e.open()
	defer l.Close()
	model := workload(t, e, l, 7, 150)
	fs, err := l.ReadSlices(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := fs.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if readErr = checkReadLoop(l, model); readErr != nil {
				return
			}
		}
	})
	st := mustClean(t, l, e.clock.Now(), nil)
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if !st.Cleaned || st.RecordsKept == st.RecordsRead {
		t.Fatalf("clean removed nothing: %+v", st)
	}
	again, err := fs.AppendTo(nil)
	fs.Release()
	if err != nil || !bytes.Equal(again, pinned) {
		t.Fatalf("pinned slices changed under a clean (err %v)", err)
	}
}

// checkReadLoop reads the whole log once (from a goroutine: no t) and
// checks every record is the one written at its offset.
func checkReadLoop(l *Log, model map[int64]seenRec) error {
	off, leo := l.LogStartOffset(), l.LogEndOffset()
	for off < leo {
		b, err := l.Read(off, 1<<12, leo, true, nil)
		if err != nil || len(b) == 0 {
			return err
		}
		for len(b) > 0 {
			h, recs, err := record.Records(b)
			if err != nil {
				return err
			}
			for _, r := range recs {
				s := seenRec{off: h.BaseOffset + int64(r.OffsetDelta), key: r.Key, value: r.Value, ts: h.BaseTimestamp + r.TimestampDelta}
				if s.off < off || !equalRec(s, model[s.off]) {
					return fmt.Errorf("read %v at %d, wrote %v", s, off, model[s.off])
				}
				off = s.off + 1
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return nil
}

// crashWorkload runs a clean of the standard crash workload in a fresh log,
// with hook, and returns the env, the records before and the log.
func crashWorkload(t *testing.T, hook func(string) error) (*testEnv, *Log, []seenRec, error) {
	e := newEnv(t, compactConfig())
	l := e.open()
	workload(t, e, l, 11, 100)
	before := readRecords(t, l)
	l.cleanHook = hook
	_, err := l.Clean(context.Background(), CleanOptions{Now: e.clock.Now(), HighWatermark: math.MaxInt64})
	return e, l, before, err
}

// TestCleanCrashAtEachStep stops a clean at every step of the swap
// protocol as a crash would, reopens, and checks the log equals the log
// before or after the clean (after, once the manifest was written), with
// no leftovers, and still works.
func TestCleanCrashAtEachStep(t *testing.T) {
	var steps []string
	_, l, _, err := crashWorkload(t, func(s string) error { steps = append(steps, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	after := readRecords(t, l)
	l.Close()
	if len(steps) < 5 {
		t.Fatalf("steps %v", steps)
	}
	errCrash := errors.New("crash")
	for n := range steps {
		t.Run(fmt.Sprintf("%d-%s", n, steps[n]), func(t *testing.T) {
			i := 0
			e, l, before, err := crashWorkload(t, func(string) error {
				if i == n {
					return errCrash
				}
				i++
				return nil
			})
			if !errors.Is(err, errCrash) {
				t.Fatalf("Clean: %v", err)
			}
			if n > 0 {
				if _, err := l.Append(batch(1, "x", 0), 0, -1); !errors.Is(err, ErrStorage) {
					t.Fatalf("append after a failed swap: %v", err)
				}
			}
			crash(l)
			l = e.open()
			defer l.Close()
			got := readRecords(t, l)
			want := after
			if n == 0 {
				want = before
			}
			checkRecords(t, got, want)
			ents, _ := os.ReadDir(e.dir)
			for _, ent := range ents {
				if strings.HasSuffix(ent.Name(), cleanedSuffix) || ent.Name() == swapManifestFile {
					t.Fatalf("leftover %s", ent.Name())
				}
			}
			mustAppend(t, l, batch(2, "post", e.clock.Now().UnixMilli()), 0)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			mustClean(t, l, e.clock.Now(), nil)
		})
	}
}

// TestCleanSchedule checks the policy, min.compaction.lag.ms,
// min.cleanable.dirty.ratio, max.compaction.lag.ms and the high watermark.
func TestCleanSchedule(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCompactionLag = time.Hour
	cfg.MinCleanableDirtyRatio = 0.5
	e := newEnv(t, cfg)
	l := e.open()
	defer l.Close()
	workload(t, e, l, 3, 60)
	now := e.clock.Now()
	if c := l.Cleanability(now, math.MaxInt64); c.Cleanable || c.DirtyBytes != 0 {
		t.Fatalf("segments younger than min.compaction.lag.ms cleanable: %+v", c)
	}
	if st := mustClean(t, l, now, nil); st.Cleaned {
		t.Fatal("cleaned within min.compaction.lag.ms")
	}
	now = now.Add(2 * time.Hour)
	if c := l.Cleanability(now, 0); c.Cleanable {
		t.Fatalf("cleanable above the high watermark: %+v", c)
	}
	if r := l.CleanableRatio(now, math.MaxInt64); r != 1 {
		t.Fatalf("ratio %v before any clean", r)
	}
	p := cfg
	p.CleanupPolicy = PolicyDelete
	l.SetConfig(p)
	if c := l.Cleanability(now, math.MaxInt64); c.Cleanable {
		t.Fatal("cleanable with cleanup.policy=delete")
	}
	l.SetConfig(cfg)
	if st := mustClean(t, l, now, nil); !st.Cleaned {
		t.Fatal("not cleaned after min.compaction.lag.ms")
	}
	// A little new dirty data: below the ratio.
	e.clock.Advance(3 * time.Hour)
	mustAppend(t, l, keyedBatch([]kv{{[]byte("k01"), []byte("n")}}, e.clock.Now().UnixMilli(), record.BuildOptions{}), 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	now = e.clock.Now().Add(2 * time.Hour)
	c := l.Cleanability(now, math.MaxInt64)
	if c.Cleanable || c.DirtyBytes == 0 || c.Ratio >= 0.5 {
		t.Fatalf("small dirty part cleanable: %+v", c)
	}
	if st := mustClean(t, l, now, nil); st.Cleaned {
		t.Fatal("cleaned below min.cleanable.dirty.ratio")
	}
	cfg.MaxCompactionLag = time.Hour
	l.SetConfig(cfg)
	if c := l.Cleanability(now, math.MaxInt64); !c.Cleanable || !c.MaxLagExceeded {
		t.Fatalf("max.compaction.lag.ms exceeded but not cleanable: %+v", c)
	}
	if st := mustClean(t, l, now, nil); !st.Cleaned {
		t.Fatal("not cleaned past max.compaction.lag.ms")
	}
}

// TestRetentionOnlyWithDelete checks time retention is off for a
// compact-only policy and back with compact,delete.
func TestRetentionOnlyWithDelete(t *testing.T) {
	cfg := compactConfig()
	cfg.RetentionMs = time.Minute
	e := newEnv(t, cfg)
	l := e.open()
	defer l.Close()
	workload(t, e, l, 5, 40)
	now := e.clock.Now().Add(time.Hour)
	if n, err := l.EnforceRetention(now); err != nil || n != 0 {
		t.Fatalf("compact-only retention deleted %d (%v)", n, err)
	}
	// An empty cleanup.policy (Kafka 4.2) keeps everything: no retention,
	// no compaction.
	cfg.CleanupPolicy = PolicyNone
	l.SetConfig(cfg)
	if n, err := l.EnforceRetention(now); err != nil || n != 0 {
		t.Fatalf("empty-policy retention deleted %d (%v)", n, err)
	}
	if c := l.Cleanability(now, l.LogEndOffset()); c.Cleanable {
		t.Fatal("empty-policy log offered for cleaning")
	}
	cfg.CleanupPolicy = PolicyCompact | PolicyDelete
	l.SetConfig(cfg)
	if n, err := l.EnforceRetention(now); err != nil || n == 0 {
		t.Fatalf("compact,delete retention deleted %d (%v)", n, err)
	}
}

// TestThrottleBucket checks the token bucket's arithmetic with a fake
// clock: the sleeps asked for add up to the bytes beyond the burst.
func TestThrottleBucket(t *testing.T) {
	clock := newClock()
	var slept time.Duration
	th := NewThrottle(1000)
	th.now = clock.Now
	th.sleep = func(_ context.Context, d time.Duration) error { slept += d; clock.Advance(d); return nil }
	for range 10 {
		if err := th.Wait(context.Background(), 500); err != nil {
			t.Fatal(err)
		}
	}
	// 5000 bytes at 1000/s with a 1000-byte burst: 4 s of waiting.
	if slept < 3990*time.Millisecond || slept > 4010*time.Millisecond {
		t.Fatalf("slept %v for 5000 bytes at 1000 B/s", slept)
	}
	if th.Consumed() != 5000 {
		t.Fatalf("consumed %d", th.Consumed())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	real := NewThrottle(1)
	if err := real.Wait(ctx, 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context: %v", err)
	}
	var nilT *Throttle
	if err := nilT.Wait(context.Background(), 10); err != nil || nilT.Consumed() != 0 {
		t.Fatal("nil throttle")
	}
}

// TestCleanRecoveryGaps checks recovery accepts the gaps of a compacted
// log below the cleaner checkpoint, and all of them when that file is
// damaged, while an uncompacted log's gap is still a cut (corruption
// tests).
func TestCleanRecoveryGaps(t *testing.T) {
	e := newEnv(t, compactConfig())
	l := e.open()
	workload(t, e, l, 21, 100)
	st := mustClean(t, l, e.clock.Now(), nil)
	if !st.Cleaned {
		t.Fatal("not cleaned")
	}
	want := readRecords(t, l)
	crash(l)
	for _, damage := range []string{"", "garbage"} {
		if damage != "" {
			if err := os.WriteFile(filepath.Join(e.dir, cleanerCheckpointFile), []byte(damage), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.Remove(filepath.Join(e.dir, checkpointFile)) // CRC-check everything
		l = e.open()
		checkRecords(t, readRecords(t, l), want)
		crash(l)
	}
	if strings.Contains(e.logs.String(), "deleted segment") || strings.Contains(e.logs.String(), "truncated segment") {
		t.Fatalf("recovery cut a compacted log:\n%s", e.logs.String())
	}
}

// TestFollowerGaps checks a compacted follower takes the leader's gaps,
// records them so that a full recovery keeps them, and a delete-policy
// follower still refuses them (TestLog_AppendAsFollower).
func TestFollowerGaps(t *testing.T) {
	e := newEnv(t, compactConfig())
	l := e.open()
	var bs [][]byte
	for _, base := range []int64{3, 4, 10, 40} {
		b := keyedBatch([]kv{{[]byte("k"), []byte(fmt.Sprint(base))}}, e.clock.Now().UnixMilli(), record.BuildOptions{})
		record.SetBaseOffset(b, base)
		bs = append(bs, b)
	}
	info, err := l.AppendAsFollower(append(append([]byte(nil), bs[0]...), bs[1]...))
	if err != nil || info.BaseOffset != 3 || l.LogEndOffset() != 5 {
		t.Fatalf("AppendAsFollower: %+v %v", info, err)
	}
	if _, err := l.AppendAsFollower(append(append([]byte(nil), bs[2]...), bs[3]...)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsFollower(bs[1]); !errors.Is(err, ErrInvalidAppend) {
		t.Fatalf("offsets going back accepted: %v", err)
	}
	want := readRecords(t, l)
	if len(want) != 4 || want[3].off != 40 {
		t.Fatalf("records %v", want)
	}
	crash(l)
	os.Remove(filepath.Join(e.dir, checkpointFile))
	l = e.open()
	defer l.Close()
	checkRecords(t, readRecords(t, l), want)
	if l.LogEndOffset() != 41 {
		t.Fatalf("leo %d after recovery", l.LogEndOffset())
	}
}
