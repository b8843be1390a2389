package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// ReadLegacySnapshot reads the JSON image in dir and returns the cluster ID
// and the records that rebuild it (ErrNoLegacySnapshot when there is none).
// The records are checked by replaying them, so a damaged file is refused
// here, not half-applied later.
func ReadLegacySnapshot(dir string) (clusterID string, records []Record, err error) {
	path := filepath.Join(dir, LegacySnapshotFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
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

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old or the new content: temp file, fsync, rename, fsync of the folder.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
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
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a folder, making renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}
