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
// leader epoch cache in Kafka's format. The package knows nothing of the
// network, replicas or topics.
//
// Invariants:
//   - Offsets inside a segment are contiguous: each batch starts at the
//     previous batch's last offset + 1, the first at the segment's base.
//     Segments are ordered; a later segment's base is >= the earlier one's
//     next offset.
//   - Readers never see a partially written batch: a segment's visible size
//     is advanced under Log.mu only after the bytes are written.
//   - Every offset below FlushedOffset has been fsynced; every offset below
//     the recovery point in log-checkpoint had been fsynced when it was
//     written. Recovery CRC-checks every batch from the segment holding the
//     recovery point to the end and cuts the log at the first bad batch.
//   - Index entries point at batch starts: an offset index entry (rel, pos)
//     means the batch at pos has base offset base+rel; a time index entry
//     (ts, rel) means the batch at base+rel has maxTimestamp ts and no
//     earlier batch of the segment has a larger one. The in-memory indexes
//     are the truth while the log is open; the index files of the active
//     segment are written when it is rolled or the log is closed.
//
// Locking: Log.mu guards the segment list, offsets and indexes; it is held
// for appends (a write(2) into the page cache) and for locating reads, never
// for fsync or for the bulk pread of Read. Log.syncMu guards the group
// commit state. Order: syncMu is never held while taking mu. The package
// starts no goroutines.
package log
