package log

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/vfs"
)

// Log compaction (cleanup.policy=compact), as Kafka's log cleaner does it:
// keep the newest record per key in the segments below the active one,
// never reassigning an offset.
//
// What a clean does (Clean):
//  1. Under mu, pick the cleanable segments: from the first segment up to
//     (not including) the first that is active, reaches the high
//     watermark, or holds a batch younger than
//     min.compaction.lag.ms. Those at or after the first dirty offset (the
//     cleaner checkpoint) are dirty, the rest were cleaned before. Pin them.
//  2. Without mu, map each key of the dirty segments to its newest offset
//     (bounded by DedupeBufferBytes at a segment boundary).
//  3. Without mu, rewrite every picked segment, merged into groups of at
//     most segment.bytes, as <base>.log.cleaned (+ .index.cleaned,
//     .timeindex.cleaned), fsynced, then fsync the folder.
//  4. Under mu, check the picked segments are still in the log (retention
//     or truncation meanwhile aborts the clean), then commit by writing the
//     swap manifest (cleaner-swap, written atomically), rename each
//     .cleaned file over its final name, delete the replaced segments'
//     files, fsync the folder, delete the manifest, and swap the segment
//     list. Open completes a swap whose manifest exists (finishSwap) and
//     deletes .cleaned files without one, so a crash leaves either the old
//     segments or the new ones. The manifest plays the part of Kafka's
//     .swap suffix: one file commits every group at once.
//
// Which records are kept: a record whose key has a newer offset in the
// map is dropped; a record without a key is dropped (Kafka counts it as
// invalid; produce refuses them for compacted topics). Tombstones (null
// values) follow Kafka's rule since KIP-534 (Kafka 3.1): the first clean
// that keeps a tombstone rewrites its batch with the delete horizon flag
// (attributes bit 0x40) and base timestamp = the delete horizon = the
// clean's time + delete.retention.ms, rebasing the record timestamp
// deltas so that base + delta is still each record's timestamp (readers,
// franz-go and the Java client alike, need nothing new); a later clean
// whose time is at or past a batch's horizon drops its tombstones. So a
// deleted key stays readable for at least delete.retention.ms after the
// first clean that saw its tombstone, whatever the segment's age. A batch
// keeps its horizon through later rewrites. Transactions (aborted records
// removed, markers kept while their transaction has batches, then given a
// delete horizon) follow Kafka's rules, described in cleaner_txn.go.
//
// Producer batches: the batch holding the last sequence of each active
// producer (CleanOptions.ActiveProducers) is never dropped. When all its
// records go it becomes an empty batch (record count 0, header only:
// producer ID, epoch, base sequence, last offset delta, leader epoch,
// maxTimestamp), as Kafka's RETAIN_EMPTY does; when its last records go an
// empty batch after the kept ones covers them. Producer state rebuilt
// from the log (partition) then still finds the producer's epoch and last
// sequence, so its next batch is in sequence. Every other empty batch is
// dropped. Recovery, reads and the cleaner accept empty batches.
//
// How batches are rewritten: a batch losing no record and needing no
// delete horizon is copied byte for byte; one losing every record is
// dropped (or emptied, above); otherwise its kept records are cut into
// runs of consecutive offsets and each run becomes one batch with base
// offset = the run's first offset (record.Validate requires offset deltas
// 0..n-1, so a batch cannot carry a gap inside). Each rebuilt batch keeps
// the codec (snappy written in the Java framing), the leader epoch, the
// timestamp type and record timestamps (a LogAppendTime batch keeps its
// maxTimestamp), the producer id and epoch, and base sequence shifted by
// the run's offset from the original base. Kafka instead keeps one batch
// with its original base offset and last offset delta and a gap inside.
// One consequence: a retry of a producer's last batch that was split by a
// clean is no longer recognised as a duplicate after producer state is
// rebuilt from the log (the producer gets OUT_OF_ORDER_SEQUENCE); its
// next batch is accepted as before.

// CleanupPolicy is cleanup.policy: a set of PolicyDelete and
// PolicyCompact, or PolicyNone. The zero value means delete.
type CleanupPolicy uint8

// The cleanup.policy values.
const (
	// PolicyDelete: time and size retention delete old segments.
	PolicyDelete CleanupPolicy = 1 << iota
	// PolicyCompact: Clean keeps the newest record per key.
	PolicyCompact
	// PolicyNone is the empty list (Kafka 4.2, KAFKA-19112): neither
	// retention nor compaction, the log is kept whole.
	PolicyNone
)

// ErrPolicyViolation: an operation the topic's cleanup.policy does not
// allow (DeleteRecords without delete). Kafka: POLICY_VIOLATION.
var ErrPolicyViolation = errors.New("not allowed by the cleanup policy")

// ErrInvalidPolicy: a cleanup.policy string Kafka would refuse.
var ErrInvalidPolicy = errors.New("log: invalid cleanup.policy")

// ParseCleanupPolicy parses Kafka's list syntax: "delete", "compact",
// "compact,delete" (any order, spaces allowed).
func ParseCleanupPolicy(s string) (CleanupPolicy, error) {
	if strings.TrimSpace(s) == "" {
		return PolicyNone, nil
	}
	var p CleanupPolicy
	for part := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(part) {
		case "delete":
			p |= PolicyDelete
		case "compact":
			p |= PolicyCompact
		default:
			return 0, fmt.Errorf("%w: %q", ErrInvalidPolicy, s)
		}
	}
	return p, nil
}

// String returns the policy in Kafka's syntax.
func (p CleanupPolicy) String() string {
	switch p & (PolicyDelete | PolicyCompact) {
	case 0:
		if p&PolicyNone != 0 {
			return ""
		}
		return "delete"
	case PolicyCompact:
		return "compact"
	case PolicyCompact | PolicyDelete:
		return "compact,delete"
	default:
		return "delete"
	}
}

// Throttle is a token bucket bounding the cleaner's I/O in bytes per
// second (log.cleaner.io.max.bytes.per.second). One Throttle is shared by
// every log a node cleans; it is safe for concurrent use. A nil *Throttle
// does not limit.
type Throttle struct {
	rate     float64 // bytes per second; also the bucket size (1 s burst)
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	consumed atomic.Int64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewThrottle returns a Throttle of bytesPerSec; <= 0 or +Inf means
// unlimited (it still counts bytes).
func NewThrottle(bytesPerSec float64) *Throttle {
	return &Throttle{rate: bytesPerSec, now: time.Now, sleep: sleepCtx, tokens: max(bytesPerSec, 0)}
}

// sleepCtx sleeps d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait takes n bytes' worth of tokens, sleeping (at most n/rate, and no
// longer than ctx allows) while the bucket is in debt.
func (t *Throttle) Wait(ctx context.Context, n int64) error {
	if t == nil || n <= 0 {
		return ctx.Err()
	}
	t.consumed.Add(n)
	if t.rate <= 0 || math.IsInf(t.rate, 1) {
		return ctx.Err()
	}
	t.mu.Lock()
	now := t.now()
	if !t.last.IsZero() {
		t.tokens = min(t.rate, t.tokens+now.Sub(t.last).Seconds()*t.rate)
	}
	t.last = now
	t.tokens -= float64(n)
	debt := -t.tokens
	t.mu.Unlock()
	if debt <= 0 {
		return ctx.Err()
	}
	return t.sleep(ctx, time.Duration(debt/t.rate*float64(time.Second)))
}

// Consumed returns the bytes accounted so far.
func (t *Throttle) Consumed() int64 {
	if t == nil {
		return 0
	}
	return t.consumed.Load()
}

// CleanOptions are the inputs of one Clean.
type CleanOptions struct {
	// Now is the time lags and delete.retention.ms are measured against.
	Now time.Time
	// HighWatermark bounds the clean: only segments wholly below it are
	// cleaned (above it a follower may still truncate).
	HighWatermark int64
	// Throttle bounds the bytes read and written; nil is unlimited.
	Throttle *Throttle
	// DedupeBufferBytes bounds the key map (log.cleaner.dedupe.buffer.size,
	// counted as key length + 48 per key); 0 means 128 MiB. The map stops
	// growing at the first segment boundary past it, and the clean covers
	// only the segments mapped.
	DedupeBufferBytes int64
	// ActiveProducers maps each producer ID the partition's producer
	// state remembers to the last offset of that producer's latest batch
	// (Kafka's lastRecordsOfActiveProducers). The clean keeps that batch,
	// emptied of its records if compaction removes them all, so that
	// producer state rebuilt from the log still has the producer's epoch
	// and last sequence; batches of producers not in the map (expired)
	// go as any other. Nil means the state is unknown: the clean then
	// keeps the last batch of every producer in the segments it cleans.
	ActiveProducers map[int64]int64
}

// CleanStats reports what one Clean did.
type CleanStats struct {
	// Cleaned is false when nothing was cleanable (or another clean of the
	// same log was running) and nothing was done.
	Cleaned bool
	// Aborted reports that retention or truncation changed the segments
	// during the clean; the cleaned files were discarded.
	Aborted bool
	// EndOffset is the end of the cleaned range: the new first dirty offset.
	EndOffset int64
	// SegmentsBefore and SegmentsAfter count the segments replaced and
	// the segments that replaced them.
	SegmentsBefore, SegmentsAfter int
	// BytesRead and BytesWritten count segment bytes (all throttled).
	BytesRead, BytesWritten int64
	// RecordsRead and RecordsKept count data records.
	RecordsRead, RecordsKept int64
	// TombstonesRemoved counts tombstones dropped because their batch's
	// delete horizon had passed.
	TombstonesRemoved int64
	// AbortedRecordsRemoved counts the records of aborted transactions
	// removed; MarkersRemoved the transaction markers dropped past their
	// delete horizon.
	AbortedRecordsRemoved, MarkersRemoved int64
}

// Cleanability describes how much a log would gain from a clean; the
// node's cleaner picks the log with the largest Ratio among the Cleanable.
type Cleanability struct {
	// CleanBytes and DirtyBytes are the bytes of the cleanable segments
	// below and at or after the first dirty offset.
	CleanBytes, DirtyBytes int64
	// Ratio is DirtyBytes / (CleanBytes + DirtyBytes), 0 when empty.
	Ratio float64
	// FirstDirtyOffset is the cleaner checkpoint; EndOffset the end of
	// the cleanable segments.
	FirstDirtyOffset, EndOffset int64
	// MaxLagExceeded: the oldest dirty batch is older than
	// max.compaction.lag.ms.
	MaxLagExceeded bool
	// Cleanable: the policy includes compact, there are dirty bytes, and
	// Ratio >= min.cleanable.dirty.ratio or MaxLagExceeded.
	Cleanable bool
}

// Cleanability reports whether Clean would do work now.
func (l *Log) Cleanability(now time.Time, highWatermark int64) Cleanability {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, _, _ := l.cleanability(now, highWatermark)
	return c
}

// CleanableRatio is Cleanability(...).Ratio: the dirty share of the
// cleanable bytes, for scheduling.
func (l *Log) CleanableRatio(now time.Time, highWatermark int64) float64 {
	return l.Cleanability(now, highWatermark).Ratio
}

// cleanability computes Cleanability and returns the index of the first
// uncleanable segment and of the first dirty one. Caller holds mu.
func (l *Log) cleanability(now time.Time, hw int64) (c Cleanability, end, dirty int) {
	fd := min(max(l.firstDirty, l.lso), l.leo)
	c.FirstDirtyOffset = fd
	if l.closed || l.cfg.CleanupPolicy&PolicyCompact == 0 {
		return c, 0, 0
	}
	minLag := now.Add(-l.cfg.MinCompactionLag).UnixMilli()
	dirty = -1
	for end = 0; end < len(l.segs)-1; end++ {
		s := l.segs[end]
		if s.next > hw ||
			(l.cfg.MinCompactionLag > 0 && l.largestTimestamp(s) > minLag) {
			break
		}
		if s.next > fd {
			if dirty < 0 {
				dirty = end
			}
			c.DirtyBytes += s.size
		} else {
			c.CleanBytes += s.size
		}
	}
	c.EndOffset = l.segs[end].base
	if dirty < 0 || c.DirtyBytes == 0 {
		return c, end, end
	}
	c.Ratio = float64(c.DirtyBytes) / float64(c.DirtyBytes+c.CleanBytes)
	if l.cfg.MaxCompactionLag > 0 {
		s := l.segs[dirty]
		ts := int64(-1)
		if h, err := s.readHeader(0, l.hdrBuf[:]); err == nil {
			ts = h.MaxTimestamp
		}
		if ts < 0 {
			ts = l.largestTimestamp(s)
		}
		c.MaxLagExceeded = ts < now.Add(-l.cfg.MaxCompactionLag).UnixMilli()
	}
	c.Cleanable = c.Ratio >= l.cfg.MinCleanableDirtyRatio || c.MaxLagExceeded
	return c, end, dirty
}

// cleanGroup is one run of old segments rewritten into one new segment.
type cleanGroup struct {
	old  []*segment
	neu  *segment     // nil when every record was removed
	txns []AbortedTxn // the aborted transactions neu keeps in its index
}

// Clean compacts the log if Cleanability says it is cleanable, and
// returns at once otherwise (or when another Clean of this log runs).
// It blocks appends only for the swap at the end (renames and a few
// fsyncs under Log.mu); reads go on throughout, and reads pinned on
// replaced segments keep reading the old files. An error after the swap
// was committed leaves the log refusing writes (ErrStorage) until it is
// reopened, which completes the swap. The log start offset does not move,
// except when every cleaned segment comes out empty: it then moves to the
// first segment left, as if retention had deleted them.
func (l *Log) Clean(ctx context.Context, opts CleanOptions) (CleanStats, error) {
	var st CleanStats
	if !l.cleanMu.TryLock() {
		return st, nil
	}
	defer l.cleanMu.Unlock()

	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return st, err
	}
	c, end, dirty := l.cleanability(opts.Now, opts.HighWatermark)
	if !c.Cleanable {
		l.mu.Unlock()
		return st, nil
	}
	cfg := l.cfg
	segs := make([]*segment, end)
	copy(segs, l.segs[:end])
	nextBase := make([]int64, end) // base of the segment after each
	sizes := make(map[*segment]int64, end)
	for i, s := range segs {
		s.ref.acquire()
		sizes[s] = s.size
		nextBase[i] = l.segs[i+1].base
	}
	l.mu.Unlock()
	pinned := segs
	defer func() {
		for _, s := range pinned {
			_ = s.ref.release()
		}
	}()

	cl := &cleaner{l: l, ctx: ctx, throttle: opts.Throttle, st: &st, cfg: cfg, sizes: sizes,
		now: opts.Now.UnixMilli(), newHorizon: deleteHorizon(opts.Now, cfg.DeleteRetention), producerLast: opts.ActiveProducers,
		txns: newCleanTxns(l.AbortedTxns(segs[0].base, nextBase[end-1]))}
	keys, mapped, err := cl.buildMap(segs[dirty:], opts.DedupeBufferBytes)
	if err != nil {
		return st, err
	}
	n := dirty + mapped
	segs = segs[:n]
	cl.keys = keys
	if cl.producerLast == nil {
		if cl.producerLast, err = cl.scanProducers(segs); err != nil {
			return st, err
		}
	}
	groups := groupSegments(segs, sizes, nextBase[:n], cfg.SegmentBytes)
	st.EndOffset = nextBase[n-1]
	st.SegmentsBefore = n
	discard := func() {
		for _, g := range groups {
			if g.neu != nil {
				g.neu.close()
				for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
					l.fs.Remove(g.neu.path(suf) + cleanedSuffix)
				}
			}
		}
	}
	first, allEmpty := 0, true
	for gi := range groups {
		g := &groups[gi]
		// While every group so far came out empty, the new segment takes
		// the log's first base, so the log start offset stays put (a
		// reader at an offset in the gap gets the next batch).
		base := g.old[0].base
		last := first + len(g.old) - 1
		if allEmpty && nextBase[last]-1-segs[0].base <= math.MaxUint32 {
			base = segs[0].base
		}
		if err := cl.writeGroup(g, base); err != nil {
			discard()
			return st, err
		}
		allEmpty = allEmpty && g.neu == nil
		first = last + 1
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		discard()
		return st, fmt.Errorf("%w: clean: %w", ErrStorage, err)
	}
	if err := l.hook("cleaned"); err != nil {
		discard()
		return st, err
	}
	return st, l.swapIn(groups, segs, st.EndOffset, &st, discard)
}

// hook runs the test hook at a step of the swap protocol.
func (l *Log) hook(step string) error {
	if l.cleanHook == nil {
		return nil
	}
	return l.cleanHook(step)
}

// swapIn commits the cleaned groups: it checks the old segments are still
// the log's first ones, writes the manifest, applies it, and updates the
// segment list. discard deletes the cleaned files before the commit.
func (l *Log) swapIn(groups []cleanGroup, segs []*segment, endOffset int64, st *CleanStats, discard func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		discard()
		return err
	}
	if len(l.segs) <= len(segs) || !sameSegments(l.segs[:len(segs)], segs) {
		discard()
		st.Aborted = true
		return nil
	}
	m := swapManifest{firstDirty: endOffset}
	for _, g := range groups {
		sg := swapGroup{newBase: -1}
		if g.neu != nil {
			sg.newBase = g.neu.base
			// The aborted transactions kept go with their markers, so a
			// group holding any is never empty.
			if err := writeCleanedTxnIndex(l.fs, g); err != nil {
				discard()
				return fmt.Errorf("%w: clean: %w", ErrStorage, err)
			}
			if len(g.txns) == 0 {
				if m.noTxnIndex == nil {
					m.noTxnIndex = map[int64]bool{}
				}
				m.noTxnIndex[g.neu.base] = true
			}
		}
		for _, s := range g.old {
			sg.old = append(sg.old, s.base)
		}
		m.groups = append(m.groups, sg)
	}
	if err := writeAtomic(l.fs, l.dir, swapManifestFile, m.encode()); err != nil {
		discard()
		return fmt.Errorf("%w: clean: manifest: %w", ErrStorage, err)
	}
	// Committed: from here a failure leaves the swap to the next Open.
	fail := func(err error) error {
		for _, g := range groups {
			if g.neu != nil {
				g.neu.close()
			}
		}
		l.fail(fmt.Errorf("clean swap: %w", err))
		return fmt.Errorf("%w: %w", ErrStorage, l.failed)
	}
	if err := l.hook("manifest"); err != nil {
		return fail(err)
	}
	if err := applySwap(l.fs, l.dir, m, l.hook); err != nil {
		return fail(err)
	}
	// Before the manifest goes: recovery accepts gaps only below the
	// cleaner checkpoint.
	l.firstDirty, l.gapsBelow = endOffset, max(l.gapsBelow, endOffset)
	if err := l.writeCleanerCheckpoint(); err != nil {
		return fail(err)
	}
	if err := l.hook("checkpoint"); err != nil {
		return fail(err)
	}
	if err := l.fs.Remove(filepath.Join(l.dir, swapManifestFile)); err != nil {
		return fail(err)
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return fail(err)
	}
	if err := l.hook("done"); err != nil {
		return fail(err)
	}
	var fresh []*segment
	for _, g := range groups {
		if g.neu != nil {
			fresh = append(fresh, g.neu)
		}
	}
	for _, s := range segs {
		// The files are already replaced or unlinked: drop the log's
		// hold only; pinned reads go on with the old files.
		s.close()
		l.dirtySegs = delSeg(l.dirtySegs, s)
	}
	rest := l.segs[len(segs):]
	l.segs = append(fresh, rest...)
	st.SegmentsAfter = len(fresh)
	st.Cleaned = true
	if l.segs[0].base > l.lso {
		// Every record below the first segment was removed.
		l.lso = l.segs[0].base
		if l.epochs.truncateFromStart(l.lso) {
			l.persistEpochs()
		}
		if err := l.writeCheckpoint(); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	return nil
}

func sameSegments(a, b []*segment) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func delSeg(list []*segment, s *segment) []*segment {
	for i, d := range list {
		if d == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// groupSegments merges consecutive segments while the group stays within
// segment.bytes and its offsets within the uint32 relative range of the
// indexes (Kafka's groupSegmentsBySize, without the index size checks:
// a group's indexes are no larger than those of a full segment).
func groupSegments(segs []*segment, sizes map[*segment]int64, nextBase []int64, segBytes int64) []cleanGroup {
	var groups []cleanGroup
	for i := 0; i < len(segs); {
		j, size := i+1, sizes[segs[i]]
		for j < len(segs) && size+sizes[segs[j]] <= segBytes && nextBase[j]-1-segs[i].base <= math.MaxUint32 {
			size += sizes[segs[j]]
			j++
		}
		groups = append(groups, cleanGroup{old: segs[i:j:j]})
		i = j
	}
	return groups
}

// writeCleanedTxnIndex gives g's cleaned segment the transaction index
// entries the clean kept (see cleaner_txn.go), written fsynced beside it
// as <base>.txnindex.cleaned for the swap to rename (none when there are
// no entries). Caller holds mu.
func writeCleanedTxnIndex(fsys vfs.FS, g cleanGroup) error {
	g.neu.txns = g.txns
	if len(g.neu.txns) == 0 {
		return nil
	}
	b := make([]byte, 0, len(g.neu.txns)*TxnIndexEntrySize)
	for _, a := range g.neu.txns {
		b = AppendTxnIndexEntry(b, a)
	}
	return writeFile(fsys, g.neu.path(txnIndexSuffix)+cleanedSuffix, b, true)
}
