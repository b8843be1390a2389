package log

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Files of the cleaner (see cleaner.go).
const (
	// cleanedSuffix marks a cleaned segment file not yet swapped in; one
	// without a swap manifest is deleted by recovery.
	cleanedSuffix = ".cleaned"
	// swapManifestFile commits a swap: while it exists, Open completes it.
	swapManifestFile = "cleaner-swap"
	// cleanerCheckpointFile holds the first dirty offset and the offset
	// below which gaps are legitimate.
	cleanerCheckpointFile = "cleaner-checkpoint"

	defaultDedupeBytes = 128 << 20
	keyEntryOverhead   = 48 // map entry + string header, roughly
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cleaner is the state of one Clean outside Log.mu.
type cleaner struct {
	l        *Log
	ctx      context.Context
	throttle *Throttle
	st       *CleanStats
	cfg      Config
	sizes    map[*segment]int64 // sizes when pinned (immutable segments)
	keys     map[string]int64   // key -> newest offset in the dirty segments
	// now is the clean's time (Unix ms): batches whose delete horizon is
	// at or before it lose their tombstones.
	now int64
	// newHorizon is the delete horizon (now + delete.retention.ms) given
	// to batches that keep tombstones and have none yet.
	newHorizon int64
	// producerLast maps a producer ID to the last offset of the batch
	// of that producer the clean must not drop (see CleanOptions).
	producerLast map[int64]int64
	// txns knows the aborted transactions of the range; groupTxns
	// collects the index entries the group being written keeps.
	txns      *cleanTxns
	groupTxns []AbortedTxn
	buf       []byte
	kept      []bool
	// hdr is the header read buffer of batch walks; in the struct (not on
	// the stack) because a buffer passed to a File interface escapes.
	hdr [record.HeaderSize]byte
}

// eachBatch calls fn for every batch of s (the bytes are valid during the
// call only), throttling the reads.
func (c *cleaner) eachBatch(s *segment, fn func(h record.Header, b []byte) error) error {
	hdr := c.hdr[:]
	size := c.sizes[s]
	for pos := int64(0); pos < size; {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if err := readFull(s.f, hdr, pos); err != nil {
			return fmt.Errorf("clean: segment %d position %d: %w", s.base, pos, err)
		}
		h, err := record.PeekHeader(hdr)
		if err == nil && pos+h.Size() > size {
			err = fmt.Errorf("%w: batch of %d bytes past the end %d", record.ErrCorrupt, h.Size(), size)
		}
		if err != nil {
			return fmt.Errorf("clean: segment %d position %d: %w", s.base, pos, err)
		}
		if err := c.throttle.Wait(c.ctx, h.Size()); err != nil {
			return err
		}
		c.buf = grow(c.buf[:0], int(h.Size()))
		if err := readFull(s.f, c.buf, pos); err != nil {
			return fmt.Errorf("clean: segment %d position %d: %w", s.base, pos, err)
		}
		c.st.BytesRead += h.Size()
		if err := fn(h, c.buf); err != nil {
			return fmt.Errorf("clean: segment %d position %d: %w", s.base, pos, err)
		}
		pos += h.Size()
	}
	return nil
}

// buildMap maps every key of the dirty segments to its newest offset. It
// stops at the first segment boundary past limit bytes and returns how
// many segments it mapped (at least one).
func (c *cleaner) buildMap(segs []*segment, limit int64) (map[string]int64, int, error) {
	if limit <= 0 {
		limit = defaultDedupeBytes
	}
	keys := map[string]int64{}
	var used int64
	for i, s := range segs {
		if i > 0 && used >= limit {
			return keys, i, nil
		}
		err := c.eachBatch(s, func(h record.Header, b []byte) error {
			if h.IsControl() || c.txns.abortedData(h) {
				return nil
			}
			return record.Walk(b, c.l.decomp, func(r *record.Record) bool {
				if r.Key == nil {
					return true
				}
				if _, ok := keys[string(r.Key)]; !ok {
					used += int64(len(r.Key)) + keyEntryOverhead
				}
				keys[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
				return true
			})
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return keys, len(segs), nil
}

// writeGroup writes the kept batches of g's segments into a new
// <base>.log.cleaned with its index files, all fsynced (base is the
// group's first base, or an earlier one when the groups before it came out
// empty). A group left empty gets no files and a nil g.neu.
func (c *cleaner) writeGroup(g *cleanGroup, base int64) error {
	s := &segment{fs: c.l.fs, dir: c.l.dir, base: base, next: base, maxTS: record.NoTimestamp, maxTSOffset: -1}
	path := s.path(logSuffix) + cleanedSuffix
	f, err := c.l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("clean: segment %d: %w", base, err)
	}
	s.f, s.ref = f, newFileRef(f)
	g.neu = s
	w := bufio.NewWriterSize(f, 64<<10)
	emit := func(b []byte) error {
		if err := c.throttle.Wait(c.ctx, int64(len(b))); err != nil {
			return err
		}
		h, err := record.PeekHeader(b)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		s.onBatch(s.size, h, c.cfg.IndexIntervalBytes)
		s.size += int64(len(b))
		c.st.BytesWritten += int64(len(b))
		return nil
	}
	c.groupTxns = nil
	for _, old := range g.old {
		err := c.eachBatch(old, func(h record.Header, b []byte) error { return c.filter(h, b, emit) })
		if err != nil {
			return err
		}
	}
	g.txns = c.groupTxns
	if err := w.Flush(); err != nil {
		return fmt.Errorf("clean: segment %d: write: %w", base, err)
	}
	if s.size == 0 {
		g.neu = nil
		s.close()
		return c.l.fs.Remove(path)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("clean: segment %d: fsync: %w", base, err)
	}
	idx, tidx := s.encodeIndexes()
	if err := writeFile(c.l.fs, s.path(indexSuffix)+cleanedSuffix, idx, true); err != nil {
		return fmt.Errorf("clean: segment %d: %w", base, err)
	}
	if err := writeFile(c.l.fs, s.path(timeIndexSuffix)+cleanedSuffix, tidx, true); err != nil {
		return fmt.Errorf("clean: segment %d: %w", base, err)
	}
	s.indexDirty = false
	return nil
}

// swapGroup is one group of a swap manifest: the old segment bases and
// the base of the cleaned segment replacing them (-1 when none does).
type swapGroup struct {
	newBase int64
	old     []int64
}

// swapManifest lists the groups of one committed swap and the first
// dirty offset after it (the cleaner checkpoint to write with it).
type swapManifest struct {
	firstDirty int64
	groups     []swapGroup
	// noTxnIndex are the new segments that keep no aborted transaction:
	// a .txnindex under their name (an old segment's of the same base)
	// is removed by the swap.
	noTxnIndex map[int64]bool
}

const swapMagic = "fjord-cleaner-swap v1"

func (m swapManifest) encode() []byte {
	var b strings.Builder
	b.WriteString(swapMagic + "\n")
	fmt.Fprintf(&b, "first-dirty-offset %d\n", m.firstDirty)
	for _, g := range m.groups {
		fmt.Fprintf(&b, "group %d", g.newBase)
		for _, o := range g.old {
			fmt.Fprintf(&b, " %d", o)
		}
		b.WriteString("\n")
	}
	for _, base := range slices.Sorted(maps.Keys(m.noTxnIndex)) {
		fmt.Fprintf(&b, "no-txnindex %d\n", base)
	}
	return withCRC(b.String())
}

func decodeSwapManifest(data []byte) (swapManifest, error) {
	body, err := checkCRCLine(data)
	if err != nil {
		return swapManifest{}, err
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) < 3 || lines[0] != swapMagic {
		return swapManifest{}, errors.New("bad header")
	}
	var m swapManifest
	if _, err := fmt.Sscanf(lines[1], "first-dirty-offset %d", &m.firstDirty); err != nil || m.firstDirty < 0 {
		return swapManifest{}, fmt.Errorf("bad line %q", lines[1])
	}
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "no-txnindex" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n < 0 {
				return swapManifest{}, fmt.Errorf("bad line %q", line)
			}
			if m.noTxnIndex == nil {
				m.noTxnIndex = map[int64]bool{}
			}
			m.noTxnIndex[n] = true
			continue
		}
		if len(f) < 3 || f[0] != "group" {
			return swapManifest{}, fmt.Errorf("bad line %q", line)
		}
		var nums []int64
		for _, s := range f[1:] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < -1 {
				return swapManifest{}, fmt.Errorf("bad line %q", line)
			}
			nums = append(nums, n)
		}
		m.groups = append(m.groups, swapGroup{newBase: nums[0], old: nums[1:]})
	}
	return m, nil
}

// withCRC appends a crc32c line to body, as log-checkpoint does.
func withCRC(body string) []byte {
	return fmt.Appendf([]byte(body), "crc32c %08x\n", crc32.Checksum([]byte(body), castagnoli))
}

// checkCRCLine verifies and strips the crc32c line of withCRC.
func checkCRCLine(b []byte) (string, error) {
	i := bytes.LastIndex(b, []byte("crc32c "))
	if i < 0 {
		return "", errors.New("no crc line")
	}
	want, err := strconv.ParseUint(strings.TrimSuffix(string(b[i+len("crc32c "):]), "\n"), 16, 32)
	if err != nil {
		return "", fmt.Errorf("crc line: %w", err)
	}
	if got := crc32.Checksum(b[:i], castagnoli); got != uint32(want) {
		return "", fmt.Errorf("crc %08x, computed %08x", want, got)
	}
	return string(b[:i]), nil
}

// applySwap moves the manifest's cleaned files over their final names and
// deletes the replaced segments' files, then fsyncs the folder. Every
// step is idempotent, so recovery repeats it whatever was done before a
// crash. hook (tests) may stop it after each step.
func applySwap(fsys vfs.FS, dir string, m swapManifest, hook func(string) error) error {
	name := func(base int64, suf string) string { return filepath.Join(dir, segmentName(base)+suf) }
	// A new segment may carry the base of an old one of an earlier group
	// (emptied groups at the start): such names are replaced by rename,
	// never deleted, or a repeated swap would delete the new files.
	fresh := map[int64]bool{}
	for _, g := range m.groups {
		fresh[g.newBase] = g.newBase >= 0
	}
	for _, g := range m.groups {
		if g.newBase >= 0 {
			// The .log last: a .log.cleaned left over means the group's
			// renames are not all done.
			if m.noTxnIndex[g.newBase] {
				// Kept under this name from an old segment: stale.
				if err := fsys.Remove(name(g.newBase, txnIndexSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("swap segment %d: %w", g.newBase, err)
				}
			}
			for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix, logSuffix} {
				err := fsys.Rename(name(g.newBase, suf+cleanedSuffix), name(g.newBase, suf))
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("swap segment %d: %w", g.newBase, err)
				}
				if hook != nil {
					if err := hook("rename " + suf); err != nil {
						return err
					}
				}
			}
		}
		for _, ob := range g.old {
			if fresh[ob] {
				continue
			}
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				if err := fsys.Remove(name(ob, suf)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("swap: delete segment %d: %w", ob, err)
				}
			}
			if hook != nil {
				if err := hook("delete"); err != nil {
					return err
				}
			}
		}
	}
	return syncDir(fsys, dir)
}

// finishSwap completes a swap whose manifest survived a crash (Open's
// first step, before leftover .cleaned files are deleted).
func (l *Log) finishSwap() error {
	path := filepath.Join(l.dir, swapManifestFile)
	data, err := vfs.ReadFile(l.fs, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cleaner swap manifest: %w", err)
	}
	m, err := decodeSwapManifest(data)
	if err != nil {
		// Written atomically, so this is damage, not a torn write: the
		// segments may be half swapped and no choice is safe.
		return fmt.Errorf("cleaner swap manifest %s: %w", path, err)
	}
	l.logger.Warn("log recovery: completing an interrupted compaction swap", "groups", len(m.groups))
	if err := applySwap(l.fs, l.dir, m, nil); err != nil {
		return err
	}
	l.firstDirty, l.gapsBelow = m.firstDirty, max(l.gapsBelow, m.firstDirty)
	if err := l.writeCleanerCheckpoint(); err != nil {
		return err
	}
	if err := l.fs.Remove(path); err != nil {
		return fmt.Errorf("cleaner swap manifest: %w", err)
	}
	return syncDir(l.fs, l.dir)
}

const cleanerCheckpointMagic = "fjord-cleaner-checkpoint v1"

func encodeCleanerCheckpoint(firstDirty, gapsBelow int64) []byte {
	return withCRC(fmt.Sprintf("%s\nfirst-dirty-offset %d\ngaps-below %d\n", cleanerCheckpointMagic, firstDirty, gapsBelow))
}

// writeCleanerCheckpoint persists firstDirty and gapsBelow. Caller holds
// mu (or is recovering).
func (l *Log) writeCleanerCheckpoint() error {
	if err := writeAtomic(l.fs, l.dir, cleanerCheckpointFile, encodeCleanerCheckpoint(l.firstDirty, l.gapsBelow)); err != nil {
		return fmt.Errorf("log %s: cleaner checkpoint: %w", l.dir, err)
	}
	return nil
}

// readCleanerCheckpoint returns the persisted first dirty offset, 0 (all
// dirty: a full clean, never a wrong one) when missing or damaged, and the
// offset below which recovery accepts offset gaps: as persisted (the end
// of the last clean, or past the last gap a follower append took from a
// compacted leader), 0 when the log never had gaps (no file), and every
// offset when the file is damaged (a compacted log must not be cut at its
// first gap).
func (l *Log) readCleanerCheckpoint() (firstDirty, gapsBelow int64) {
	data, err := vfs.ReadFile(l.fs, filepath.Join(l.dir, cleanerCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0
	}
	if err != nil {
		l.logger.Warn("log: cleaner checkpoint unreadable, the next clean maps every segment", "error", err)
		return 0, math.MaxInt64
	}
	body, err := checkCRCLine(data)
	var off, gaps int64
	if err == nil {
		_, err = fmt.Sscanf(body, cleanerCheckpointMagic+"\nfirst-dirty-offset %d\ngaps-below %d\n", &off, &gaps)
	}
	if err != nil || off < 0 || gaps < 0 {
		l.logger.Warn("log: cleaner checkpoint unreadable, the next clean maps every segment", "error", err)
		return 0, math.MaxInt64
	}
	return off, gaps
}
