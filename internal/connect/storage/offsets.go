package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/connect"
)

// OffsetKey is the offset topic's record key for a connector's source
// partition: the JSON array [connector, partition], as Kafka Connect's
// OffsetStorageWriter writes it (schemaless JSON); Go's encoding sorts
// the partition's keys, so one partition always has one key.
func OffsetKey(connector string, partition map[string]any) ([]byte, error) {
	return json.Marshal([]any{connector, partition})
}

// ParseOffsetKey reads an offset record's key.
func ParseOffsetKey(key []byte) (connector string, partition map[string]any, err error) {
	var parts []any
	if err := decodeJSON(key, &parts); err != nil {
		return "", nil, err
	}
	if len(parts) != 2 {
		return "", nil, fmt.Errorf("offset key %s: want [connector, partition]", key)
	}
	c, ok := parts[0].(string)
	p, ok2 := parts[1].(map[string]any)
	if !ok || !ok2 {
		return "", nil, fmt.Errorf("offset key %s: want [connector, partition]", key)
	}
	return c, p, nil
}

// decodeJSON decodes with integral numbers as int64 and others as float64,
// as Kafka's JsonConverter reads schemaless numbers.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	normalize(v)
	return nil
}

func normalize(v any) {
	switch x := v.(type) {
	case *[]any:
		for i := range *x {
			(*x)[i] = normValue((*x)[i])
		}
	case *map[string]any:
		for k, e := range *x {
			(*x)[k] = normValue(e)
		}
	}
}

func normValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil && !strings.ContainsAny(x.String(), ".eE") {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normValue(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normValue(e)
		}
	}
	return v
}

// TopicOffsetStore keeps source offsets in offset.storage.topic (Kafka
// Connect's KafkaOffsetBackingStore).
type TopicOffsetStore struct {
	log *KafkaLog

	mu      sync.RWMutex
	offsets map[string]map[string]any // by key bytes
}

// NewTopicOffsetStore returns a store over spec's topic; Start reads it.
func NewTopicOffsetStore(spec TopicSpec, seeds []string, opts []kgo.Opt, logger *slog.Logger) (*TopicOffsetStore, error) {
	s := &TopicOffsetStore{offsets: map[string]map[string]any{}}
	l, err := NewKafkaLog(spec, seeds, opts, s.apply, logger)
	if err != nil {
		return nil, err
	}
	s.log = l
	return s, nil
}

func (s *TopicOffsetStore) apply(r *kgo.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Value == nil {
		delete(s.offsets, string(r.Key))
		return
	}
	var off map[string]any
	if err := decodeJSON(r.Value, &off); err != nil {
		return // not an offset Connect wrote: skipped, as Kafka logs and skips
	}
	s.offsets[string(r.Key)] = off
}

// Start reads the topic (creating it if missing) and tails it.
func (s *TopicOffsetStore) Start(ctx context.Context) error { return s.log.Start(ctx) }

// Close stops the store.
func (s *TopicOffsetStore) Close() { s.log.Close() }

// Get returns the stored offsets of a connector's source partitions, in
// order (nil for one that has none), after reading the topic to its end:
// the runtime's OffsetStore.
func (s *TopicOffsetStore) Get(ctx context.Context, connector string, partitions []map[string]any) ([]map[string]any, error) {
	if err := s.log.ReadToEnd(ctx); err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(partitions))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, p := range partitions {
		key, err := OffsetKey(connector, p)
		if err != nil {
			return nil, err
		}
		out[i] = s.offsets[string(key)]
	}
	return out, nil
}

// Set writes offsets of a connector's source partitions (a nil offset
// deletes one, as a tombstone) and returns once the broker has them all.
func (s *TopicOffsetStore) Set(ctx context.Context, connector string, offsets []connect.ConnectorOffset) error {
	for _, o := range offsets {
		key, err := OffsetKey(connector, o.Partition)
		if err != nil {
			return err
		}
		var value []byte
		if o.Offset != nil {
			if value, err = json.Marshal(o.Offset); err != nil {
				return err
			}
		}
		if err := s.log.Send(ctx, key, value); err != nil {
			return err
		}
	}
	return nil
}

// OffsetRecords returns the records that store offsets (a nil offset:
// a tombstone), for an exactly-once source task to write in its own
// transaction: the offsets then count exactly when the task's records
// do. Partition -1 leaves the partition to the key's hash, as Send's.
func (s *TopicOffsetStore) OffsetRecords(connector string, offsets []connect.ConnectorOffset) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, 0, len(offsets))
	for _, o := range offsets {
		key, err := OffsetKey(connector, o.Partition)
		if err != nil {
			return nil, err
		}
		var value []byte
		if o.Offset != nil {
			if value, err = json.Marshal(o.Offset); err != nil {
				return nil, err
			}
		}
		out = append(out, &kgo.Record{Topic: s.log.spec.Name, Partition: -1, Key: key, Value: value})
	}
	return out, nil
}

// List returns every stored offset of a connector, after reading the
// topic to its end.
func (s *TopicOffsetStore) List(ctx context.Context, connector string) ([]connect.ConnectorOffset, error) {
	if err := s.log.ReadToEnd(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []connect.ConnectorOffset
	for k, off := range s.offsets {
		c, p, err := ParseOffsetKey([]byte(k))
		if err != nil || c != connector {
			continue
		}
		out = append(out, connect.ConnectorOffset{Partition: p, Offset: off})
	}
	sortOffsets(out)
	return out, nil
}
