package metadata

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// SnapshotFile is the file name of the standalone metadata snapshot inside
// the metadata folder.
const SnapshotFile = "metadata.json"

// Store owns the metadata image of a standalone node and persists every
// change before publishing it. Writers are serialised by mu; readers load the
// current Image without locking.
type Store struct {
	dir string
	mu  sync.Mutex // serialises changes and snapshot writes
	img atomic.Pointer[Image]
}

type snapshot struct {
	Version        int             `json:"version"`
	ClusterID      string          `json:"cluster_id"`
	NextProducerID int64           `json:"next_producer_id"`
	Topics         []snapshotTopic `json:"topics"`
}

type snapshotTopic struct {
	Topic
	ID string `json:"id"`
}

// Open loads the snapshot in dir, or starts an empty image with a new
// cluster ID (or clusterID when not empty) when there is none.
func Open(dir, clusterID string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("metadata folder: %w", err)
	}
	s := &Store{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	switch {
	case os.IsNotExist(err):
		if clusterID == "" {
			clusterID = NewTopicID().String()
		}
		img := &Image{ClusterID: clusterID, NextProducerID: 1000, topics: map[string]*Topic{}, byID: map[TopicID]*Topic{}}
		if err := s.persist(img); err != nil {
			return nil, err
		}
		s.img.Store(img)
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("metadata snapshot: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("metadata snapshot %s: %w", filepath.Join(dir, SnapshotFile), err)
	}
	if clusterID != "" && clusterID != snap.ClusterID {
		return nil, fmt.Errorf("metadata snapshot belongs to cluster %s, configured cluster.id is %s", snap.ClusterID, clusterID)
	}
	img := &Image{ClusterID: snap.ClusterID, NextProducerID: snap.NextProducerID, topics: map[string]*Topic{}, byID: map[TopicID]*Topic{}}
	for _, st := range snap.Topics {
		t := st.Topic
		id, err := ParseTopicID(st.ID)
		if err != nil {
			return nil, fmt.Errorf("metadata snapshot topic %q: %w", t.Name, err)
		}
		t.ID = id
		img.topics[t.Name] = &t
		img.byID[id] = &t
	}
	s.img.Store(img)
	return s, nil
}

// Image returns the current immutable image.
func (s *Store) Image() *Image { return s.img.Load() }

// Update applies fn to a copy of the image, persists the result and
// publishes it. fn may return an error to abandon the change.
func (s *Store) Update(fn func(*Mutation) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Mutation{img: s.img.Load().clone()}
	if err := fn(m); err != nil {
		return err
	}
	if err := s.persist(m.img); err != nil {
		return err
	}
	s.img.Store(m.img)
	return nil
}

func (s *Store) persist(img *Image) error {
	snap := snapshot{Version: 1, ClusterID: img.ClusterID, NextProducerID: img.NextProducerID}
	for _, n := range img.TopicNames() {
		t := img.topics[n]
		snap.Topics = append(snap.Topics, snapshotTopic{Topic: *t, ID: t.ID.String()})
	}
	b, err := json.MarshalIndent(snap, "", " ")
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	return WriteFileAtomic(filepath.Join(s.dir, SnapshotFile), b)
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
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("open folder of %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync folder of %s: %w", path, err)
	}
	return nil
}

// Mutation is a change being built inside Store.Update.
type Mutation struct{ img *Image }

// Image is the image as changed so far.
func (m *Mutation) Image() *Image { return m.img }

// PutTopic adds or replaces a topic. The caller must not modify t afterwards.
func (m *Mutation) PutTopic(t *Topic) {
	if old := m.img.topics[t.Name]; old != nil {
		delete(m.img.byID, old.ID)
	}
	m.img.topics[t.Name] = t
	m.img.byID[t.ID] = t
}

// DeleteTopic removes a topic.
func (m *Mutation) DeleteTopic(name string) {
	if t := m.img.topics[name]; t != nil {
		delete(m.img.byID, t.ID)
		delete(m.img.topics, name)
	}
}

// AllocateProducerIDs reserves n consecutive producer IDs and returns the first.
func (m *Mutation) AllocateProducerIDs(n int64) int64 {
	first := m.img.NextProducerID
	m.img.NextProducerID += n
	return first
}
