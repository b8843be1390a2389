// Package log stores one partition's records in a folder of segments, as
// Kafka lays them out, and recovers that folder after a crash.
//
// A folder holds segments named by their 20-digit base offset:
// <base>.log (record batches exactly as appended, only baseOffset,
// partitionLeaderEpoch and the log-append-time fields rewritten),
// <base>.index (sparse: uint32 offset relative to base -> uint32 byte
// position, one entry per index.interval.bytes) and <base>.timeindex
// (int64 timestamp -> uint32 relative offset, appended when the segment's
// largest timestamp grows at an index point). log-checkpoint holds the
// recovery point and log start offset; leader-epoch-checkpoint holds the
// leader epoch cache in Kafka's format. Compacted logs (cleaner.go) also
// have cleaner-checkpoint (first dirty offset, and the offset below which
// offset gaps are legitimate) and, during a swap, cleaner-swap (the
// manifest that commits it) with <base>.*.cleaned files. The package
// knows nothing of the network, replicas or topics. Every file operation
// goes through Options.FS (a vfs.FS, the OS by default), so that tests can
// run the log on vfs.MemFS and cut the power at any operation; the log
// relies on nothing but POSIX's rules (data durable after the file's
// fsync, names after the folder's).
//
// Invariants:
//   - Offsets increase: as appended, each batch starts at the previous
//     batch's last offset + 1, the first batch of a segment at the
//     segment's base, and each segment at the previous segment's next
//     offset. Compaction (cleaner.go) removes records and so leaves gaps
//     between batches and segments, but never reassigns an offset, and
//     every batch it writes is a valid batch of contiguous records. Gaps
//     exist only below the cleaner checkpoint (cleaner-checkpoint, written
//     before a swap is complete), and recovery accepts them only there
//     (anywhere if that file is damaged). Only the last (active) segment
//     may be empty. Leader epochs never decrease.
//   - Readers never see a partially written batch: a segment's visible size
//     is advanced under Log.mu only after the bytes are written.
//   - Every offset below FlushedOffset has been fsynced. Below the recovery
//     point in log-checkpoint, data and index files were written and
//     consistent when it was written (so it never passes a segment whose
//     index files lag: the active segment's are written only at roll and
//     close, and fsynced by the next flush). Open trusts that prefix after cheap checks (index
//     sanity, a header walk from the last index entry, the last time index
//     entry) and CRC-checks every batch after it, cutting the log at the
//     first bad batch and deleting the segments after it. As in Kafka, bit
//     rot below the recovery point is not detected. Above the recovery
//     point the batches are also the truth for the leader epoch cache,
//     which recovery re-derives from them: the cache is written before the
//     data is fsynced, and a power loss may keep data written back early
//     without the cache update.
//   - Index entries point at batch starts: an offset index entry (rel, pos)
//     means the batch at pos has base offset base+rel; a time index entry
//     (ts, rel) means the batch at base+rel has maxTimestamp ts and no
//     earlier batch of the segment has a larger one. The in-memory indexes
//     are the truth while the log is open; the index files of the active
//     segment are written when it is rolled or the log is closed.
//   - A segment file is closed only when nothing uses it: the log holds one
//     reference while the segment is in its list, and every read pins it
//     (Read for its pread, ReadSlices until FileSlices.Release). Deleting
//     a segment (retention, DeleteRecordsBefore, Truncate, Delete, Close)
//     drops the log's reference and unlinks the file; a pinned read goes
//     on reading the unlinked file, and a new segment of the same name is
//     a different file. Compaction replaces segments the same way: the
//     cleaned file is renamed over the old name (or the old file
//     unlinked) and the log's reference dropped, so a pinned read keeps
//     the old bytes. The counts are atomic: pinning takes no lock of its
//     own.
//
// Locking: Log.mu guards the segment list, offsets and indexes; it is held
// for appends (a write(2) into the page cache), for locating reads (and,
// for ReadSlices, for the header walk that finds where the read stops,
// bounded by index.interval.bytes and done with one pread per 4 KiB) and
// for timestamp lookups, never for the fsync of a group commit or for the
// bulk pread of Read (a truncation during that pread is detected by a
// generation counter and the read retried). Log.syncMu guards the group
// commit state. Order: syncMu is never held while taking mu. Log.cleanMu
// lets one Clean run at a time and is taken before mu; Clean reads and
// writes segment files without mu and holds it only to pick and pin the
// segments and for the swap (renames and a few fsyncs). The package
// starts no goroutines.
package log
