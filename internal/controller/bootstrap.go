package controller

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/fjordstream/fjord/internal/metadata"
)

// bootstrapIfNew writes the bootstrap snapshot of a brand-new log: index
// 1, term 1, the voters, and the bootstrap records. A log that exists is
// checked against the configured voters instead. cfg.FS is set.
func bootstrapIfNew(cfg RaftConfig) (fresh bool, err error) {
	path := filepath.Join(cfg.Dir, snapshotFile)
	snap, err := readSnapshotFile(cfg.FS, path)
	if err == nil {
		if _, herr := cfg.FS.Stat(filepath.Join(cfg.Dir, hardStateFile)); errors.Is(herr, fs.ErrNotExist) && snap.Metadata.Index == 1 {
			fresh = true // bootstrapped before but never took part in a vote
		}
		if snap.Metadata.Index > 1 {
			// A later snapshot holds the voters as changed since
			// (AddVoter, RemoveVoter): the log, not the configuration,
			// names them now.
			return fresh, nil
		}
		stored := make([]int32, 0, len(snap.Metadata.ConfState.Voters))
		for _, v := range snap.Metadata.ConfState.Voters {
			stored = append(stored, int32(v))
		}
		slices.Sort(stored)
		want := slices.Sorted(slices.Values(cfg.Voters))
		if !slices.Equal(stored, want) {
			return false, fmt.Errorf("controller.quorum.voters names voters %v, but the metadata log in %s belongs to a quorum of %v", want, cfg.Dir, stored)
		}
		return fresh, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if entries, _ := cfg.FS.ReadDir(cfg.Dir); slices.ContainsFunc(entries, func(e fs.DirEntry) bool {
		return filepath.Ext(e.Name()) == ".log"
	}) {
		return false, fmt.Errorf("the metadata log in %s has segments but no snapshot: it was not written by this release; move it away to start a new log", cfg.Dir)
	}
	if !slices.Contains(cfg.Voters, cfg.NodeID) {
		// A node joining the quorum starts with an empty log: the leader
		// that adds it sends it a snapshot (it compacts its log at every
		// change of voters). Bootstrapping from this node's
		// controller.quorum.voters, which need not be the voters the
		// cluster started with, could give it another first entry.
		return true, nil
	}
	cs := pb.ConfState{}
	for _, v := range cfg.Voters {
		cs.Voters = append(cs.Voters, uint64(v))
	}
	data := encodeRecords(cfg.Bootstrap)
	b, err := (&pb.Snapshot{Data: data, Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}).Marshal()
	if err != nil {
		return false, err
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	return true, metadata.WriteFileAtomic(cfg.FS, path, b)
}
