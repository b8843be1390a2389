package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/fjordstream/fjord/internal/connect"
)

// OffsetStore keeps source connectors' committed offsets, Kafka Connect's
// OffsetBackingStore seen through its OffsetStorageReader/Writer: one
// offset per (connector, source partition). Standalone mode uses
// FileOffsetStore; distributed mode will use a store backed by the
// offset.storage.topic (a compacted topic keyed by
// ["<connector>",{partition}] as Kafka writes it), which only has to
// implement this interface.
type OffsetStore interface {
	// Get returns the committed offset of each partition, in order (nil
	// for one that has none).
	Get(ctx context.Context, connector string, partitions []map[string]any) ([]map[string]any, error)
	// Set stores a batch of offsets at once: either all are durable when
	// it returns nil or none may be relied on. A nil Offset removes the
	// partition's offset (Kafka's tombstone, KIP-875's reset).
	Set(ctx context.Context, connector string, offsets []connect.ConnectorOffset) error
	// List returns every offset of a connector (GET
	// /connectors/{name}/offsets), sorted by partition.
	List(ctx context.Context, connector string) ([]connect.ConnectorOffset, error)
}

// partitionKey is a source partition's identity: its canonical JSON
// (encoding/json sorts map keys), so equal maps give equal keys.
func partitionKey(p map[string]any) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("source partition %v is not JSON: %w", p, err)
	}
	return string(b), nil
}

// normalize returns m as it reads back from JSON (numbers as int64 when
// integral, float64 otherwise), so an offset reads the same from the
// memory store, the file store and, later, the topic store.
func normalize(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("offset %v is not JSON: %w", m, err)
	}
	var out map[string]any
	if err := decodeJSON(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	fixNumbers(v)
	return nil
}

// fixNumbers turns json.Numbers into int64 or float64 in place.
func fixNumbers(v any) any {
	switch t := v.(type) {
	case *map[string]any:
		fixNumbers(*t)
	case *[]storedOffset:
		for i := range *t {
			fixNumbers((*t)[i].Partition)
			fixNumbers((*t)[i].Offset)
		}
	case map[string]any:
		for k, e := range t {
			t[k] = fixNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = fixNumbers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// offsetTable is the state both stores share: connector -> partition key
// -> offset.
type offsetTable map[string]map[string]connect.ConnectorOffset

func (t offsetTable) get(connector string, partitions []map[string]any) ([]map[string]any, error) {
	out := make([]map[string]any, len(partitions))
	for i, p := range partitions {
		k, err := partitionKey(p)
		if err != nil {
			return nil, err
		}
		if o, ok := t[connector][k]; ok {
			out[i], _ = normalize(o.Offset) // a copy: callers may change it
		}
	}
	return out, nil
}

// apply returns the table with offsets applied, leaving t unchanged on
// error.
func (t offsetTable) apply(connector string, offsets []connect.ConnectorOffset) (offsetTable, error) {
	next := make(offsetTable, len(t)+1)
	for c, m := range t {
		next[c] = m
	}
	m := make(map[string]connect.ConnectorOffset, len(t[connector])+len(offsets))
	for k, o := range t[connector] {
		m[k] = o
	}
	for _, o := range offsets {
		k, err := partitionKey(o.Partition)
		if err != nil {
			return nil, err
		}
		if o.Offset == nil {
			delete(m, k)
			continue
		}
		p, _ := normalize(o.Partition)
		off, err := normalize(o.Offset)
		if err != nil {
			return nil, err
		}
		m[k] = connect.ConnectorOffset{Partition: p, Offset: off}
	}
	next[connector] = m
	return next, nil
}

func (t offsetTable) list(connector string) []connect.ConnectorOffset {
	keys := make([]string, 0, len(t[connector]))
	for k := range t[connector] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]connect.ConnectorOffset, 0, len(keys))
	for _, k := range keys {
		o := t[connector][k]
		p, _ := normalize(o.Partition)
		off, _ := normalize(o.Offset)
		out = append(out, connect.ConnectorOffset{Partition: p, Offset: off})
	}
	return out
}

// MemoryOffsetStore is an OffsetStore in memory (tests, and connectors
// that keep no state across restarts of the process).
type MemoryOffsetStore struct {
	mu sync.Mutex
	t  offsetTable
}

// NewMemoryOffsetStore returns an empty in-memory store.
func NewMemoryOffsetStore() *MemoryOffsetStore { return &MemoryOffsetStore{t: offsetTable{}} }

// Get implements OffsetStore.
func (s *MemoryOffsetStore) Get(_ context.Context, connector string, partitions []map[string]any) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.get(connector, partitions)
}

// Set implements OffsetStore.
func (s *MemoryOffsetStore) Set(_ context.Context, connector string, offsets []connect.ConnectorOffset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.t.apply(connector, offsets)
	if err != nil {
		return err
	}
	s.t = next
	return nil
}

// List implements OffsetStore.
func (s *MemoryOffsetStore) List(_ context.Context, connector string) ([]connect.ConnectorOffset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.list(connector), nil
}

// fileFormat names the file store's format in its header, so a file from
// another program (Kafka's Java-serialized one) is refused, not misread.
const fileFormat = "fjord-connect-offsets"

// fileDoc is the file store's document (see docs/connect-runtime.md):
//
//	{"format":"fjord-connect-offsets","version":1,
//	 "offsets":[{"connector":"c","partition":{...},"offset":{...}}]}
type fileDoc struct {
	Format  string         `json:"format"`
	Version int            `json:"version"`
	Offsets []storedOffset `json:"offsets"`
}

type storedOffset struct {
	Connector string         `json:"connector"`
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// FileOffsetStore is standalone mode's OffsetStore
// (offset.storage.file.filename): the whole table in one JSON file,
// rewritten on every Set through a temporary file that is fsynced and
// renamed over the old one (then the directory is fsynced), so a crash
// leaves either the old file or the new one, never a torn one.
type FileOffsetStore struct {
	path string
	mu   sync.Mutex
	t    offsetTable
}

// OpenFileOffsetStore reads path (absent: empty store). A file that does
// not parse is an error, not an empty store: starting over would replay
// every source from its beginning.
func OpenFileOffsetStore(path string) (*FileOffsetStore, error) {
	s := &FileOffsetStore{path: path, t: offsetTable{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("offset store %s: %w", path, err)
	}
	var doc fileDoc
	if err := decodeJSON(b, &doc); err != nil {
		return nil, fmt.Errorf("offset store %s is not a Fjord offsets file: %w", path, err)
	}
	fixNumbers(&doc.Offsets)
	if doc.Format != fileFormat || doc.Version != 1 {
		return nil, fmt.Errorf("offset store %s: format %q version %d, want %q version 1", path, doc.Format, doc.Version, fileFormat)
	}
	for _, o := range doc.Offsets {
		next, err := s.t.apply(o.Connector, []connect.ConnectorOffset{{Partition: o.Partition, Offset: o.Offset}})
		if err != nil {
			return nil, fmt.Errorf("offset store %s: %w", path, err)
		}
		s.t = next
	}
	return s, nil
}

// Get implements OffsetStore.
func (s *FileOffsetStore) Get(_ context.Context, connector string, partitions []map[string]any) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.get(connector, partitions)
}

// List implements OffsetStore.
func (s *FileOffsetStore) List(_ context.Context, connector string) ([]connect.ConnectorOffset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.list(connector), nil
}

// Set implements OffsetStore: the new table is in memory only once it is
// on disk.
func (s *FileOffsetStore) Set(_ context.Context, connector string, offsets []connect.ConnectorOffset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.t.apply(connector, offsets)
	if err != nil {
		return err
	}
	if err := s.write(next); err != nil {
		return fmt.Errorf("offset store %s: %w", s.path, err)
	}
	s.t = next
	return nil
}

func (s *FileOffsetStore) write(t offsetTable) error {
	doc := fileDoc{Format: fileFormat, Version: 1, Offsets: []storedOffset{}}
	conns := make([]string, 0, len(t))
	for c := range t {
		conns = append(conns, c)
	}
	sort.Strings(conns)
	for _, c := range conns {
		for _, o := range t.list(c) {
			doc.Offsets = append(doc.Offsets, storedOffset{Connector: c, Partition: o.Partition, Offset: o.Offset})
		}
	}
	b, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	// The rename is durable only once the directory entry is.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
