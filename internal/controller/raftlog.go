package controller

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// The metadata log stores raft entries in the segment format of every
// partition: entry i is the record batch at offset i-1 holding one record,
// whose key is the entry type (one byte) and whose value is the entry's
// data; the batch's partition leader epoch is the entry's term. So the
// log's offsets are raft's indexes shifted by one, its leader-epoch
// checkpoint is raft's term history, and recovery, segment rolls and
// deletion are the log package's.
//
// Beside it: quorum-state (the raft hard state: term, vote, commit) and
// at most one snapshot file (the image at an index, with the voters),
// each written atomically. A snapshot lets the log start after it.

const (
	hardStateFile = "quorum-state"
	snapshotFile  = "metadata.snapshot"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// raftLog is the durable raft storage of one node: raft reads it through
// the MemoryStorage (entries since the snapshot are kept in memory too;
// snapshots bound them), and every change is written to the log first.
type raftLog struct {
	fs     vfs.FS // holds dir and the log; never nil
	dir    string
	log    *log.Log
	mem    *raft.MemoryStorage
	hs     pb.HardState // as last written to quorum-state
	logger *slog.Logger
}

func metadataLogConfig() log.Config {
	cfg := log.DefaultConfig()
	cfg.SegmentBytes = 8 << 20
	cfg.RetentionMs, cfg.RetentionBytes, cfg.SegmentMs = -1, -1, 0
	cfg.FlushMessages = 1
	return cfg
}

// openRaftLog opens the metadata log in dir on fsys (nil: the operating
// system's) and loads snapshot, entries and hard state into memory.
func openRaftLog(fsys vfs.FS, dir string, logger *slog.Logger) (*raftLog, error) {
	if fsys == nil {
		fsys = vfs.OS()
	}
	l, err := log.Open(dir, metadataLogConfig(), log.Options{FS: fsys, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("metadata log: %w", err)
	}
	r := &raftLog{fs: fsys, dir: dir, log: l, mem: raft.NewMemoryStorage(), logger: logger}
	if err := r.load(); err != nil {
		_ = l.Close()
		return nil, err
	}
	return r, nil
}

func (r *raftLog) load() error {
	snap, err := readSnapshotFile(r.fs, filepath.Join(r.dir, snapshotFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := r.mem.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("metadata snapshot: %w", err)
		}
	}
	start := int64(snap.Metadata.Index) // offset of the first entry after the snapshot
	if ls := r.log.LogStartOffset(); ls > start {
		return fmt.Errorf("metadata log starts at index %d but the snapshot ends at %d", ls+1, start)
	}
	if r.log.LogEndOffset() < start {
		// Everything in the log is covered by the snapshot.
		if err := r.log.TruncateFullyAndStartAt(start); err != nil {
			return fmt.Errorf("metadata log: %w", err)
		}
	}
	ents, err := r.readEntries(start, r.log.LogEndOffset())
	if err != nil {
		return err
	}
	if err := r.mem.Append(ents); err != nil {
		return fmt.Errorf("metadata log: %w", err)
	}
	hs, err := readHardState(r.fs, filepath.Join(r.dir, hardStateFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	last, _ := r.mem.LastIndex()
	hs.Commit = min(hs.Commit, last)
	hs.Commit = max(hs.Commit, snap.Metadata.Index)
	r.hs = hs
	return r.mem.SetHardState(hs)
}

// readEntries reads the entries at offsets [from, to).
func (r *raftLog) readEntries(from, to int64) ([]pb.Entry, error) {
	var out []pb.Entry
	for off := from; off < to; {
		buf, err := r.log.Read(off, 1<<20, to, true, nil)
		if err != nil {
			return nil, fmt.Errorf("metadata log at %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		for len(buf) > 0 {
			n := record.BatchSize(buf)
			if n <= 0 || n > int64(len(buf)) {
				return nil, fmt.Errorf("metadata log at %d: %w", off, record.ErrCorrupt)
			}
			e, err := entryOf(buf[:n])
			if err != nil {
				return nil, fmt.Errorf("metadata log at %d: %w", off, err)
			}
			out = append(out, e)
			off = int64(e.Index)
			buf = buf[n:]
		}
	}
	return out, nil
}

// entryOf decodes the raft entry stored as one batch.
func entryOf(batch []byte) (pb.Entry, error) {
	h, recs, err := record.Records(batch)
	if err != nil {
		return pb.Entry{}, err
	}
	if len(recs) != 1 || h.LastOffsetDelta != 0 || len(recs[0].Key) != 1 {
		return pb.Entry{}, fmt.Errorf("%w: a metadata batch must hold one entry record", record.ErrCorrupt)
	}
	return pb.Entry{Index: uint64(h.BaseOffset) + 1, Term: uint64(h.PartitionLeaderEpoch),
		Type: pb.EntryType(recs[0].Key[0]), Data: recs[0].Value}, nil
}

// batchOf encodes a raft entry as the batch the metadata log stores.
func batchOf(e pb.Entry) []byte {
	return record.Build([]record.Record{{Key: []byte{byte(e.Type)}, Value: e.Data}},
		record.BuildOptions{BaseOffset: int64(e.Index) - 1, PartitionLeaderEpoch: int32(e.Term), BaseTimestamp: time.Now().UnixMilli()})
}

// save makes a Ready's snapshot, entries and hard state durable, in that
// order, before raft may act on them.
func (r *raftLog) save(snap pb.Snapshot, ents []pb.Entry, hs pb.HardState) error {
	if !raft.IsEmptySnap(snap) {
		if err := r.saveSnapshot(snap); err != nil {
			return err
		}
		if err := r.mem.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("metadata snapshot: %w", err)
		}
	}
	if len(ents) > 0 {
		first := int64(ents[0].Index) - 1
		if first < r.log.LogEndOffset() {
			// A new leader overwrites uncommitted entries.
			if err := r.log.Truncate(first); err != nil {
				return fmt.Errorf("metadata log: truncate to %d: %w", first, err)
			}
		}
		var buf []byte
		for _, e := range ents {
			buf = append(buf, batchOf(e)...)
		}
		if _, err := r.log.AppendAsFollower(buf); err != nil {
			return fmt.Errorf("metadata log: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := r.log.Sync(ctx, r.log.LogEndOffset())
		cancel()
		if err != nil {
			return fmt.Errorf("metadata log: %w", err)
		}
		if err := r.mem.Append(ents); err != nil {
			return fmt.Errorf("metadata log: %w", err)
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if hs.Term != r.hs.Term || hs.Vote != r.hs.Vote {
			// The vote must be durable before any message says it. The
			// commit index rides along but need not be current: a stale
			// one is re-learned from the leader.
			if err := metadata.WriteFileAtomic(r.fs, filepath.Join(r.dir, hardStateFile), encodeHardState(hs)); err != nil {
				return err
			}
			r.hs = hs
		}
		if err := r.mem.SetHardState(hs); err != nil {
			return err
		}
	}
	return nil
}

// saveSnapshot writes a snapshot file, then drops the entries it covers
// from the log.
func (r *raftLog) saveSnapshot(snap pb.Snapshot) error {
	b, err := snap.Marshal()
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	if err := metadata.WriteFileAtomic(r.fs, filepath.Join(r.dir, snapshotFile), b); err != nil {
		return err
	}
	idx := int64(snap.Metadata.Index)
	switch {
	case idx >= r.log.LogEndOffset():
		if err := r.log.TruncateFullyAndStartAt(idx); err != nil {
			return fmt.Errorf("metadata log: %w", err)
		}
	case idx > r.log.LogStartOffset():
		if err := r.log.DeleteRecordsBefore(idx); err != nil {
			return fmt.Errorf("metadata log: %w", err)
		}
	}
	return nil
}

// compact takes a snapshot at applied index i holding data (the image's
// records), so the log and memory keep only the entries after it.
func (r *raftLog) compact(i uint64, cs *pb.ConfState, data []byte) error {
	snap, err := r.mem.CreateSnapshot(i, cs, data)
	if err != nil {
		return err
	}
	if err := r.saveSnapshot(snap); err != nil {
		return err
	}
	return r.mem.Compact(i)
}

// readSnapshotFile reads and checks a snapshot file.
func readSnapshotFile(fsys vfs.FS, path string) (pb.Snapshot, error) {
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return pb.Snapshot{}, err
	}
	if len(b) < 4 || crc32.Checksum(b[:len(b)-4], crcTable) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return pb.Snapshot{}, fmt.Errorf("metadata snapshot %s: checksum mismatch", path)
	}
	var snap pb.Snapshot
	if err := snap.Unmarshal(b[:len(b)-4]); err != nil {
		return pb.Snapshot{}, fmt.Errorf("metadata snapshot %s: %w", path, err)
	}
	return snap, nil
}

func encodeHardState(hs pb.HardState) []byte {
	b := binary.BigEndian.AppendUint64(nil, hs.Term)
	b = binary.BigEndian.AppendUint64(b, hs.Vote)
	b = binary.BigEndian.AppendUint64(b, hs.Commit)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// readHardState reads and checks quorum-state.
func readHardState(fsys vfs.FS, path string) (pb.HardState, error) {
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return pb.HardState{}, err
	}
	if len(b) != 28 || crc32.Checksum(b[:24], crcTable) != binary.BigEndian.Uint32(b[24:]) {
		return pb.HardState{}, fmt.Errorf("%s: damaged (length %d or checksum)", path, len(b))
	}
	return pb.HardState{Term: binary.BigEndian.Uint64(b), Vote: binary.BigEndian.Uint64(b[8:]), Commit: binary.BigEndian.Uint64(b[16:])}, nil
}

// close closes the log.
func (r *raftLog) close() error { return r.log.Close() }
