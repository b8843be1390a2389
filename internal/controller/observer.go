package controller

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// Observer keeps a broker-only node's copy of the metadata log: it fetches
// committed entries (or the snapshot) from the controllers, stores them in
// its own __cluster_metadata-0 (the same format as a voter's), and applies
// them to the broker's loader in order. Everything in an observer's log is
// committed, so a restart replays it whole before fetching again.
type Observer struct {
	nodeID int32
	client *Client
	rl     *raftLog
	loader *metadata.Loader
	logger *slog.Logger

	leader       atomic.Int32 // the active controller as last reported
	committedEnd atomic.Int64 // the quorum's committed end, as last reported
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

// OpenObserver opens the metadata log in dir on fsys (nil: the operating
// system's), replays it into loader and starts fetching from the quorum
// through client.
func OpenObserver(nodeID int32, fsys vfs.FS, dir string, client *Client, loader *metadata.Loader, logger *slog.Logger) (*Observer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := metadata.MkdirAll(fsys, dir); err != nil {
		return nil, fmt.Errorf("metadata log folder: %w", err)
	}
	rl, err := openRaftLog(fsys, dir, logger)
	if err != nil {
		return nil, err
	}
	o := &Observer{nodeID: nodeID, client: client, rl: rl, loader: loader, logger: logger}
	o.leader.Store(-1)
	if err := o.replay(); err != nil {
		_ = rl.close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.run(ctx)
	}()
	return o, nil
}

func (o *Observer) replay() error {
	snap, err := o.rl.mem.Snapshot()
	if err != nil {
		return err
	}
	recs, err := decodeRecords(snap.Data)
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	last := int64(snap.Metadata.Index) - 1
	last2, more, err := o.recordsOf(o.rl.readEntriesFrom(int64(snap.Metadata.Index)))
	if err != nil {
		return err
	}
	if last2 >= 0 {
		last = last2
	}
	if raftSnapIsEmpty(snap) && len(more) == 0 {
		return nil
	}
	_, err = o.loader.ApplySnapshot(append(recs, more...), last)
	return err
}

func raftSnapIsEmpty(s pb.Snapshot) bool { return s.Metadata.Index == 0 }

// readEntriesFrom reads every entry stored from offset from.
func (r *raftLog) readEntriesFrom(from int64) ([]pb.Entry, error) {
	return r.readEntries(from, r.log.LogEndOffset())
}

// recordsOf gathers the records of entries; last is the last entry's
// offset (-1 when none).
func (o *Observer) recordsOf(ents []pb.Entry, err error) (int64, []metadata.Record, error) {
	if err != nil {
		return -1, nil, err
	}
	last := int64(-1)
	var out []metadata.Record
	for _, e := range ents {
		last = int64(e.Index) - 1
		// A change of voters carries the members' endpoints (voters.go).
		_, recs, _, err := entryRecords(e)
		if err != nil {
			return -1, nil, fmt.Errorf("metadata entry %d: %w", e.Index, err)
		}
		out = append(out, recs...)
	}
	return last, out, nil
}

// Leader returns the active controller as the quorum last reported it.
func (o *Observer) Leader() int32 { return o.leader.Load() }

// Close stops fetching and closes the log.
func (o *Observer) Close() error {
	o.cancel()
	o.wg.Wait()
	return o.rl.close()
}

func (o *Observer) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := o.fetchOnce(ctx)
		if err == nil {
			backoff = 50 * time.Millisecond
			continue
		}
		if ctx.Err() == nil {
			o.logger.Debug("metadata fetch failed", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (o *Observer) fetchOnce(ctx context.Context) error {
	from := o.rl.log.LogEndOffset()
	payload := binary.BigEndian.AppendUint32(nil, uint32(o.nodeID))
	payload = binary.BigEndian.AppendUint64(payload, uint64(from))
	payload = binary.BigEndian.AppendUint32(payload, 1<<20)
	payload = binary.BigEndian.AppendUint32(payload, 500)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	out, err := o.client.Call(cctx, MethodFetchMetadata, payload)
	cancel()
	if err != nil {
		return err
	}
	if len(out) < 13 {
		return errors.New("short metadata fetch reply")
	}
	o.committedEnd.Store(int64(binary.BigEndian.Uint64(out)))
	o.leader.Store(int32(binary.BigEndian.Uint32(out[8:])))
	kind, data := out[12], out[13:]
	if kind == fetchSnapshot {
		var snap pb.Snapshot
		if err := snap.Unmarshal(data); err != nil {
			return fmt.Errorf("metadata snapshot: %w", err)
		}
		if err := o.rl.saveSnapshot(snap); err != nil {
			return err
		}
		recs, err := decodeRecords(snap.Data)
		if err != nil {
			return err
		}
		_, err = o.loader.ApplySnapshot(recs, int64(snap.Metadata.Index)-1)
		return err
	}
	if len(data) == 0 {
		return nil
	}
	var ents []pb.Entry
	for b := data; len(b) > 0; {
		n := record.BatchSize(b)
		if n <= 0 || n > int64(len(b)) {
			return fmt.Errorf("metadata fetch: %w", record.ErrCorrupt)
		}
		e, err := entryOf(b[:n])
		if err != nil {
			return err
		}
		ents = append(ents, e)
		b = b[n:]
	}
	if _, err := o.rl.log.AppendAsFollower(data); err != nil {
		return fmt.Errorf("metadata log: %w", err)
	}
	last, recs, err := o.recordsOf(ents, nil)
	if err != nil {
		return err
	}
	_, err = o.loader.Apply(recs, last)
	return err
}

// metadataDir is the metadata log folder of a data folder.
func metadataDir(dataDir string) string { return filepath.Join(dataDir, MetadataLogDir) }
