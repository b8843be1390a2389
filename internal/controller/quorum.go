package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
)

// Quorum commits batches of metadata records to the replicated metadata
// log and applies them, in order, to the local loader.
type Quorum interface {
	// Commit appends records as one batch and returns once the batch is
	// committed and applied to the local image (publishers have run).
	Commit(ctx context.Context, records []metadata.Record) (lastOffset int64, err error)
	// Close stops the quorum and closes its log.
	Close() error
}

// MetadataLogDir is the metadata log's folder under the data folder,
// named as Kafka names it.
const MetadataLogDir = "__cluster_metadata-0"

// maxBatchRecords bounds one committed batch.
const maxBatchRecords = 100_000

// LocalQuorum is the one-voter quorum of a standalone node: a batch is
// committed once it is fsynced in the local metadata log.
type LocalQuorum struct {
	log    *log.Log
	loader *metadata.Loader
	logger *slog.Logger
	mu     sync.Mutex // serialises appends, so batches apply in log order
	epoch  int32
}

// OpenLocal opens (creating) the metadata log in dataDir, migrates a legacy
// JSON image found there, and replays the log into loader as one delta.
func OpenLocal(dataDir string, loader *metadata.Loader, logger *slog.Logger) (*LocalQuorum, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(dataDir, MetadataLogDir)
	cfg := log.DefaultConfig()
	cfg.SegmentBytes = 8 << 20
	cfg.RetentionMs, cfg.RetentionBytes, cfg.SegmentMs = -1, -1, 0
	cfg.FlushMessages = 1
	l, err := log.Open(dir, cfg, log.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("metadata log: %w", err)
	}
	q := &LocalQuorum{log: l, loader: loader, logger: logger, epoch: 1}
	if err := q.replay(); err != nil {
		_ = l.Close()
		return nil, err
	}
	if err := q.migrateLegacy(dir); err != nil {
		_ = l.Close()
		return nil, err
	}
	return q, nil
}

// replay reads the whole metadata log and applies it as one delta.
func (q *LocalQuorum) replay() error {
	var recs []metadata.Record
	last := int64(-1)
	for off := q.log.LogStartOffset(); off < q.log.LogEndOffset(); {
		buf, err := q.log.Read(off, 1<<20, q.log.LogEndOffset(), true, nil)
		if err != nil {
			return fmt.Errorf("metadata log at %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		for len(buf) > 0 {
			n := record.BatchSize(buf)
			if n <= 0 || n > int64(len(buf)) {
				return fmt.Errorf("metadata log at %d: %w", off, record.ErrCorrupt)
			}
			h, rs, err := record.Records(buf[:n])
			if err != nil {
				return fmt.Errorf("metadata log at %d: %w", off, err)
			}
			for _, r := range rs {
				m, err := metadata.DecodeRecord(r.Value)
				if err != nil {
					return fmt.Errorf("metadata log at %d: %w", h.BaseOffset+int64(r.OffsetDelta), err)
				}
				recs = append(recs, m)
			}
			last = h.LastOffset()
			off = last + 1
			q.epoch = max(q.epoch, h.PartitionLeaderEpoch)
			buf = buf[n:]
		}
	}
	if last < 0 {
		return nil
	}
	if _, err := q.loader.Apply(recs, last); err != nil {
		return fmt.Errorf("metadata log: %w", err)
	}
	return nil
}

// migrateLegacy turns the JSON image of a release before the metadata log
// into the log's first batch, then renames the JSON file away. A crash in
// between finds a non-empty log and only renames.
func (q *LocalQuorum) migrateLegacy(dir string) error {
	path := filepath.Join(dir, metadata.LegacySnapshotFile)
	if q.log.LogEndOffset() > 0 {
		if _, err := os.Stat(path); err == nil {
			return os.Rename(path, path+".migrated")
		}
		return nil
	}
	_, recs, err := metadata.ReadLegacySnapshot(dir)
	if errors.Is(err, metadata.ErrNoLegacySnapshot) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(recs) > 0 {
		if _, err := q.Commit(ctx, recs); err != nil {
			return fmt.Errorf("migrating %s: %w", path, err)
		}
	}
	q.logger.Info("migrated the metadata snapshot to the metadata log", "records", len(recs))
	if err := os.Rename(path, path+".migrated"); err != nil {
		return err
	}
	return metadata.SyncDir(dir)
}

// Commit implements Quorum.
func (q *LocalQuorum) Commit(ctx context.Context, records []metadata.Record) (int64, error) {
	if len(records) == 0 || len(records) > maxBatchRecords {
		return 0, fmt.Errorf("metadata batch of %d records: %w", len(records), log.ErrInvalidAppend)
	}
	recs := make([]record.Record, len(records))
	for i, r := range records {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: metadata.EncodeRecord(nil, r)}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := record.Build(recs, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()})
	info, err := q.log.Append(batch, q.epoch, -1)
	if err != nil {
		return 0, fmt.Errorf("metadata log: %w", err)
	}
	if err := q.log.Sync(ctx, info.LastOffset+1); err != nil {
		return 0, fmt.Errorf("metadata log: %w", err)
	}
	if _, err := q.loader.Apply(records, info.LastOffset); err != nil {
		// Dry-run by the controller first: reaching this is a bug, and
		// the log now holds a batch that every replay will refuse.
		return 0, fmt.Errorf("metadata log holds a batch that does not apply: %w", err)
	}
	return info.LastOffset, nil
}

// Close implements Quorum.
func (q *LocalQuorum) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.log.Close()
}
