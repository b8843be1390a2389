package controller

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Quorum commits batches of metadata records to the replicated metadata
// log and applies them, in order, to the local loader.
type Quorum interface {
	// Commit appends records as one batch and returns once the batch is
	// committed and applied to the local image (publishers have run). A
	// batch whose outcome is unknown when Commit returns (ctx ended, or
	// the node stopped leading) must keep the node from deciding as the
	// controller until it is known: the controller computes its next
	// records from the image, which must include every earlier batch.
	Commit(ctx context.Context, records []metadata.Record) (lastOffset int64, err error)
	// Close stops the quorum and closes its log.
	Close() error
}

// MetadataLogDir is the metadata log's folder under the data folder,
// named as Kafka names it.
const MetadataLogDir = "__cluster_metadata-0"

// maxBatchRecords bounds one committed entry.
const maxBatchRecords = 100_000

// OpenStandalone opens the metadata quorum of a standalone node: a raft
// quorum of one voter, nodeID, over the metadata log in dataDir, the same
// code as every distributed controller. A data folder of the release
// before the metadata log (its JSON image in metadata.json) bootstraps the
// new log with that image, and the JSON file is renamed away once the log
// holds it. It returns once the node is the active controller. Every file
// is reached through fsys (nil: the operating system's).
func OpenStandalone(ctx context.Context, fsys vfs.FS, dataDir string, nodeID int32, loader *metadata.Loader, logger *slog.Logger) (*RaftQuorum, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if fsys == nil {
		fsys = vfs.OS()
	}
	dir := filepath.Join(dataDir, MetadataLogDir)
	legacy := filepath.Join(dir, metadata.LegacySnapshotFile)
	var boot []metadata.Record
	if _, err := fsys.Stat(filepath.Join(dir, snapshotFile)); errors.Is(err, fs.ErrNotExist) {
		_, recs, err := metadata.ReadLegacySnapshot(fsys, dir)
		switch {
		case errors.Is(err, metadata.ErrNoLegacySnapshot):
		case err != nil:
			return nil, err
		default:
			boot = recs
			logger.Info("migrating the metadata snapshot to the metadata log", "records", len(recs))
		}
	}
	q, err := OpenRaft(RaftConfig{NodeID: nodeID, Voters: []int32{nodeID}, Dir: dir, FS: fsys, Bootstrap: boot, Logger: logger}, loader)
	if err != nil {
		return nil, err
	}
	if _, err := fsys.Stat(legacy); err == nil {
		if err := fsys.Rename(legacy, legacy+".migrated"); err != nil {
			_ = q.Close()
			return nil, err
		}
		if err := metadata.SyncDir(fsys, dir); err != nil {
			_ = q.Close()
			return nil, err
		}
	}
	if err := q.WaitActive(ctx); err != nil {
		_ = q.Close()
		return nil, err
	}
	return q, nil
}
