package log

import (
	"errors"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or
	// above the log end offset. Kafka: OFFSET_OUT_OF_RANGE.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("log: closed")
	// ErrStorage: an I/O error left the log in an unknown state; it refuses
	// further writes. Kafka: KAFKA_STORAGE_ERROR.
	ErrStorage = errors.New("log: storage error")
	// ErrInvalidAppend: the batches handed to Append/AppendAsFollower are
	// malformed or their offsets do not follow the log end offset.
	ErrInvalidAppend = errors.New("log: invalid append")
)

// Config holds the topic settings a log honours (Kafka's topic keys).
// Use DefaultConfig and override: the zero value of RetentionMs means
// "delete at once", as retention.ms=0 does in Kafka.
type Config struct {
	// SegmentBytes is segment.bytes: roll before a segment would exceed it.
	SegmentBytes int64
	// SegmentMs is segment.ms: roll once the active segment's first batch
	// was appended this long ago (0 = never by age).
	SegmentMs time.Duration
	// RetentionMs is retention.ms: delete segments whose largest timestamp
	// is older; < 0 = unlimited.
	RetentionMs time.Duration
	// RetentionBytes is retention.bytes: delete oldest segments while the
	// log is larger; < 0 = unlimited.
	RetentionBytes int64
	// IndexIntervalBytes is index.interval.bytes: bytes between offset
	// index entries.
	IndexIntervalBytes int32
	// SegmentIndexBytes is segment.index.bytes: the largest index file;
	// the segment rolls when its index is full.
	SegmentIndexBytes int32
	// FlushMessages is flush.messages: fsync once this many messages are
	// unflushed. 1 means every append must be fsynced before it is
	// acknowledged (the caller calls Sync); <= 0 means never by count.
	FlushMessages int64
	// FlushMs is flush.ms: the longest unflushed data may wait; <= 0 is
	// unset. Enforced by the caller calling FlushIfDue.
	FlushMs time.Duration
	// CleanupPolicy is cleanup.policy; the zero value is delete. Time and
	// size retention apply only when it includes delete; Clean works only
	// when it includes compact.
	CleanupPolicy CleanupPolicy
	// DeleteRetention is delete.retention.ms: how long a tombstone (null
	// value) survives compaction; see Clean for the rule.
	DeleteRetention time.Duration
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio: the dirty share
	// of the cleanable bytes a log needs before Clean compacts it.
	MinCleanableDirtyRatio float64
	// MinCompactionLag is min.compaction.lag.ms: a segment holding a batch
	// younger than this is not compacted.
	MinCompactionLag time.Duration
	// MaxCompactionLag is max.compaction.lag.ms: a log whose oldest dirty
	// batch is older than this is cleanable whatever its dirty ratio;
	// <= 0 means unlimited (Kafka's Long.MAX_VALUE default).
	MaxCompactionLag time.Duration
}

// DefaultConfig returns Kafka's topic defaults, except flush.messages=1
// (Fjord acknowledges only fsynced appends by default).
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		RetentionMs:        7 * 24 * time.Hour,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      1,

		CleanupPolicy:          PolicyDelete,
		DeleteRetention:        24 * time.Hour,
		MinCleanableDirtyRatio: 0.5,
	}
}

// normalized fills unset sizes with defaults and clamps them to what the
// on-disk format can address (uint32 positions).
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	c.SegmentBytes = min(c.SegmentBytes, math.MaxInt32)
	switch {
	case c.CleanupPolicy&(PolicyDelete|PolicyCompact) != 0:
		c.CleanupPolicy &= PolicyDelete | PolicyCompact
	case c.CleanupPolicy&PolicyNone != 0:
		c.CleanupPolicy = PolicyNone
	default:
		c.CleanupPolicy = PolicyDelete
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes < 4*offsetEntrySize {
		if c.SegmentIndexBytes <= 0 {
			c.SegmentIndexBytes = d.SegmentIndexBytes
		} else {
			c.SegmentIndexBytes = 4 * offsetEntrySize
		}
	}
	return c
}

// Options are the dependencies of a Log.
type Options struct {
	// Logger receives recovery reports; nil discards them.
	Logger *slog.Logger
	// Now is the clock (segment age, flush.ms); nil means time.Now.
	Now func() time.Time
	// Decompressor is used by recovery and timestamp lookups; nil makes
	// one per log.
	Decompressor *record.Decompressor
	// FS holds the log's files; nil means the operating system's
	// (vfs.OS). Tests pass a vfs.MemFS to simulate power loss.
	FS vfs.FS
	// OnFailure, if set, is told once when a write-side I/O error (a
	// write, fsync, roll, truncation or checkpoint write) leaves the log
	// refusing writes: the log directory is then suspect, and its owner
	// takes it offline as Kafka's LogDirFailureChannel does. It runs
	// with the log's lock held, so it must not call back into the log.
	OnFailure func(error)
	// OnFsync, if set, is told how long each fsync round of log data
	// took (one per group commit: the segments, their indexes and the
	// folder), for the node's fsync latency histogram. It must be cheap.
	OnFsync func(time.Duration)
	// IO, if set, counts the bytes this log writes to and reads from its
	// segment files; one IOStats is shared by a node's logs.
	IO *IOStats
}

// IOStats counts log bytes written (appends, as leader and as follower)
// and read (fetches, copied or sent from the file) across the logs that
// share it, for the node's disk metrics. Atomic: the hot paths only add.
type IOStats struct {
	Written, Read atomic.Int64
}

// AppendInfo describes an append.
type AppendInfo struct {
	// BaseOffset and LastOffset are the first and last offsets written.
	BaseOffset, LastOffset int64
	// LogAppendTime is the time stamped into the batches, -1 if none.
	LogAppendTime int64
	// MaxTimestamp is the largest batch maxTimestamp appended and
	// OffsetOfMaxTimestamp the base offset of the batch carrying it.
	MaxTimestamp         int64
	OffsetOfMaxTimestamp int64
	// Batches, Records and Bytes count what was written.
	Batches int
	Records int64
	Bytes   int64
	// LogStartOffset is the log start offset after the append.
	LogStartOffset int64
	// Rolled reports that a new segment was started for this append.
	Rolled bool
}

// SegmentInfo describes one segment.
type SegmentInfo struct {
	BaseOffset int64
	// NextOffset is the offset after the segment's last batch.
	NextOffset   int64
	Size         int64
	MaxTimestamp int64
	Path         string
}

// Stats are counters for metrics and tests.
type Stats struct {
	// Fsyncs counts fsync rounds of log data (one per group commit).
	Fsyncs int64
	// Appends counts successful Append/AppendAsFollower calls.
	Appends int64
	// RecoveryPoint is the recovery point last written to log-checkpoint.
	RecoveryPoint int64
}
