package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fjordstream/fjord/internal/vfs"
)

// LegacySnapshotFile is the JSON image that standalone releases before the
// metadata log kept in the metadata folder. A folder holding one is
// migrated: its image becomes the first records of the metadata log.
const LegacySnapshotFile = "metadata.json"

type legacySnapshot struct {
	Version        int           `json:"version"`
	ClusterID      string        `json:"cluster_id"`
	NextProducerID int64         `json:"next_producer_id"`
	Topics         []legacyTopic `json:"topics"`
}

type legacyTopic struct {
	Topic
	ID string `json:"id"`
}

// ErrNoLegacySnapshot: the folder holds no legacy JSON image.
var ErrNoLegacySnapshot = errors.New("no legacy metadata snapshot")

// ReadLegacySnapshot reads the JSON image in dir on fsys (nil: the
// operating system's) and returns the cluster ID and the records that
// rebuild it (ErrNoLegacySnapshot when there is none). The records are
// checked by replaying them, so a damaged file is refused here, not
// half-applied later.
func ReadLegacySnapshot(fsys vfs.FS, dir string) (clusterID string, records []Record, err error) {
	path := filepath.Join(dir, LegacySnapshotFile)
	b, err := vfs.ReadFile(orOS(fsys), path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, ErrNoLegacySnapshot
	}
	if err != nil {
		return "", nil, fmt.Errorf("metadata snapshot: %w", err)
	}
	var snap legacySnapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return "", nil, fmt.Errorf("metadata snapshot %s: %w", path, err)
	}
	for _, st := range snap.Topics {
		id, err := ParseTopicID(st.ID)
		if err != nil {
			return "", nil, fmt.Errorf("metadata snapshot %s: topic %q: %w", path, st.Name, err)
		}
		records = append(records, &TopicRecord{Name: st.Name, TopicID: id})
		for i, p := range st.Partitions {
			if p.Index != int32(i) {
				return "", nil, fmt.Errorf("metadata snapshot %s: topic %q: partition %d at position %d", path, st.Name, p.Index, i)
			}
			records = append(records, &PartitionRecord{PartitionID: p.Index, TopicID: id, Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch})
		}
		for _, k := range sortedKeys(st.Configs) {
			v := st.Configs[k]
			records = append(records, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: st.Name, Name: k, Value: &v})
		}
	}
	if snap.NextProducerID > FirstProducerID {
		records = append(records, &ProducerIdsRecord{BrokerID: -1, NextProducerID: snap.NextProducerID})
	}
	d := NewDelta(NewImage(snap.ClusterID))
	for _, r := range records {
		if err := d.Replay(r); err != nil {
			return "", nil, fmt.Errorf("metadata snapshot %s: %w", path, err)
		}
	}
	return snap.ClusterID, records, nil
}

// The helpers below are the durable file operations of every package
// above internal/log that keeps files of its own (partition, controller,
// node). Each takes the FS explicitly; nil is the operating system's. They
// rely on POSIX's contract only (see internal/vfs): data is durable once
// its file is fsynced, a name once its folder is.

// orOS returns fsys, or the operating system's file system when nil.
func orOS(fsys vfs.FS) vfs.FS {
	if fsys == nil {
		return vfs.OS()
	}
	return fsys
}

// WriteFileAtomic replaces path on fsys (nil: the operating system's) with
// data so that a crash leaves either the old or the new content: temp
// file, fsync, rename, fsync of the folder.
func WriteFileAtomic(fsys vfs.FS, path string, data []byte) error {
	fsys = orOS(fsys)
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return SyncDir(fsys, filepath.Dir(path))
}

// SyncDir fsyncs a folder of fsys (nil: the operating system's), making
// the files created, renamed and removed in it durable.
func SyncDir(fsys vfs.FS, dir string) error {
	if err := orOS(fsys).SyncDir(dir); err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates dir and its missing parents on fsys (nil: the operating
// system's) and makes their names durable, fsyncing the parent of each
// folder it created: without that a power loss right after could take the
// new folder and every file in it, however fsynced. A folder that exists
// costs one stat.
func MkdirAll(fsys vfs.FS, dir string) error {
	fsys = orOS(fsys)
	var missing []string // dir and its missing parents, deepest first
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := fsys.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("folder %s: %w", dir, err)
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("folder %s: %w", dir, err)
	}
	// Deepest first: each parent's fsync covers the entry of the folder
	// below it; the topmost new folder's parent existed before.
	for _, d := range missing {
		if err := SyncDir(fsys, filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
