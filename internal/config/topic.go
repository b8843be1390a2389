package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Topic is the resolved configuration of one topic: the broker's defaults
// with the topic's overrides applied. Durations are time.Duration; Kafka's
// "never" (9223372036854775807 ms) saturates to the largest Duration.
// The field names follow Kafka's topic keys.
type Topic struct {
	SegmentBytes       int32         // segment.bytes
	SegmentMs          time.Duration // segment.ms
	SegmentJitterMs    time.Duration // segment.jitter.ms
	RetentionMs        time.Duration // retention.ms; negative means unlimited
	RetentionBytes     int64         // retention.bytes; negative means unlimited
	MaxMessageBytes    int32         // max.message.bytes
	FlushMessages      int64         // flush.messages; 1 = fsync before every acknowledgement
	FlushMs            time.Duration // flush.ms
	IndexIntervalBytes int32         // index.interval.bytes
	SegmentIndexBytes  int32         // segment.index.bytes
	// MessageTimestampType is "CreateTime" or "LogAppendTime".
	MessageTimestampType      string
	MessageTimestampBeforeMax time.Duration // message.timestamp.before.max.ms
	MessageTimestampAfterMax  time.Duration // message.timestamp.after.max.ms
	// CleanupPolicy holds "delete" and/or "compact"; empty means neither.
	// Shared with the Broker's copy: do not modify.
	CleanupPolicy []string
	// CompressionType is producer, uncompressed, gzip, snappy, lz4 or zstd.
	CompressionType        string
	MinInsyncReplicas      int32         // min.insync.replicas
	DeleteRetention        time.Duration // delete.retention.ms
	MinCompactionLag       time.Duration // min.compaction.lag.ms
	MaxCompactionLag       time.Duration // max.compaction.lag.ms
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio
	Preallocate            bool          // preallocate
	FileDeleteDelay        time.Duration // file.delete.delay.ms
	UncleanLeaderElection  bool          // unclean.leader.election.enable
	// LeaderThrottledReplicas and FollowerThrottledReplicas are
	// leader/follower.replication.throttled.replicas: partition:broker
	// items or "*" (see LeaderThrottled). Shared: do not modify.
	LeaderThrottledReplicas, FollowerThrottledReplicas []string
}

// Compact reports whether the cleanup policy includes compact.
func (t Topic) Compact() bool { return slices.Contains(t.CleanupPolicy, "compact") }

// Delete reports whether the cleanup policy includes delete.
func (t Topic) Delete() bool { return slices.Contains(t.CleanupPolicy, "delete") }

// RetentionUnlimited reports whether time-based retention is off.
func (t Topic) RetentionUnlimited() bool { return t.RetentionMs < 0 }

// TopicConfig resolves a topic's configuration: the broker's topic defaults
// with overrides applied. An unknown key or a bad value is an error wrapping
// ErrInvalidConfig.
func (b *Broker) TopicConfig(overrides map[string]string) (Topic, error) {
	if err := checkTopicKeys(b.table, overrides); err != nil {
		return Topic{}, err
	}
	raw := maps.Clone(b.topicDefaults)
	maps.Copy(raw, overrides)
	return parseTopic(b.table, raw)
}

// ValidateTopicConfigs checks topic overrides as CreateTopics and
// AlterConfigs must: every key a topic key, every value valid, and
// min.compaction.lag.ms not above max.compaction.lag.ms. Errors wrap
// ErrInvalidConfig and name the key.
func ValidateTopicConfigs(overrides map[string]string) error {
	t := Registry()
	if err := checkTopicKeys(t, overrides); err != nil {
		return err
	}
	raw := registryTopicDefaults(t)
	maps.Copy(raw, overrides)
	_, err := parseTopic(t, raw)
	return err
}

// checkTopicKeys rejects keys that are not topic keys, in name order so the
// error is deterministic.
func checkTopicKeys(t *Table, overrides map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		k, ok := t.Lookup(name)
		if !ok {
			return &Error{Key: name, Unknown: true, Reason: "not a topic config"}
		}
		if !k.IsTopic() {
			return &Error{Key: name, Unknown: true, Reason: "a broker config, not a topic config"}
		}
	}
	return nil
}

// registryTopicDefaults returns every topic key's registry default.
func registryTopicDefaults(t *Table) map[string]string {
	out := map[string]string{}
	for _, k := range t.keys {
		if k.IsTopic() {
			out[k.Name] = k.Default
		}
	}
	return out
}

// parseTopic parses a complete set of topic values (every topic key
// present) into a Topic. Errors are *Error naming the topic key.
func parseTopic(t *Table, raw map[string]string) (Topic, error) {
	var out Topic
	for _, k := range t.keys {
		if !k.IsTopic() {
			continue
		}
		v, err := k.Parse(raw[k.Name])
		if err != nil {
			return Topic{}, err
		}
		setTopicField(&out, k.Name, v)
	}
	if out.MinCompactionLag > out.MaxCompactionLag {
		return Topic{}, &Error{Key: "min.compaction.lag.ms", Value: raw["min.compaction.lag.ms"],
			Reason: "greater than max.compaction.lag.ms (" + trim(raw["max.compaction.lag.ms"]) + ")"}
	}
	return out, nil
}

// setTopicField stores one parsed value. Values were validated, so the
// integer conversions below cannot truncate.
func setTopicField(t *Topic, name string, v any) {
	n, _ := v.(int64)
	ms := msToDuration(n)
	switch name {
	case "segment.bytes":
		t.SegmentBytes = int32(n)
	case "segment.ms":
		t.SegmentMs = ms
	case "segment.jitter.ms":
		t.SegmentJitterMs = ms
	case "retention.ms":
		t.RetentionMs = ms
	case "retention.bytes":
		t.RetentionBytes = n
	case "max.message.bytes":
		t.MaxMessageBytes = int32(n)
	case "flush.messages":
		t.FlushMessages = n
	case "flush.ms":
		t.FlushMs = ms
	case "index.interval.bytes":
		t.IndexIntervalBytes = int32(n)
	case "segment.index.bytes":
		t.SegmentIndexBytes = int32(n)
	case "message.timestamp.type":
		t.MessageTimestampType, _ = v.(string)
	case "message.timestamp.before.max.ms":
		t.MessageTimestampBeforeMax = ms
	case "message.timestamp.after.max.ms":
		t.MessageTimestampAfterMax = ms
	case "cleanup.policy":
		t.CleanupPolicy, _ = v.([]string)
	case "compression.type":
		t.CompressionType, _ = v.(string)
	case "min.insync.replicas":
		t.MinInsyncReplicas = int32(n)
	case "delete.retention.ms":
		t.DeleteRetention = ms
	case "min.compaction.lag.ms":
		t.MinCompactionLag = ms
	case "max.compaction.lag.ms":
		t.MaxCompactionLag = ms
	case "min.cleanable.dirty.ratio":
		t.MinCleanableDirtyRatio, _ = v.(float64)
	case "preallocate":
		t.Preallocate, _ = v.(bool)
	case "file.delete.delay.ms":
		t.FileDeleteDelay = ms
	case "unclean.leader.election.enable":
		t.UncleanLeaderElection, _ = v.(bool)
	case "leader.replication.throttled.replicas":
		t.LeaderThrottledReplicas, _ = v.([]string)
	case "follower.replication.throttled.replicas":
		t.FollowerThrottledReplicas, _ = v.([]string)
	}
}

// topicDefault is the value a topic key takes from the broker, and which
// broker key supplied it.
type topicDefault struct {
	value    string // in the topic key's unit (ms)
	supplier Key
	raw      string // the supplier's value as configured
}

// deriveTopicDefaults computes each topic key's default from the broker's
// static properties: the first synonym that is set wins, else the first
// with a non-null default; hours and minutes become milliseconds. A topic
// key no broker key supplies takes its own default.
// Retention below zero means unlimited (-1); zero is rejected, as Kafka does.
func deriveTopicDefaults(t *Table, static map[string]string) (map[string]topicDefault, error) {
	out := map[string]topicDefault{}
	for _, tk := range t.keys {
		if !tk.IsTopic() {
			continue
		}
		syns := t.BrokerSynonyms(tk.Name)
		if len(syns) == 0 {
			// Topic-only keys without a broker default in Kafka either
			// (the *.replication.throttled.replicas lists).
			out[tk.Name] = topicDefault{value: tk.Default, supplier: tk, raw: tk.Default}
			continue
		}
		var pick *Key
		var raw string
		for i := range syns {
			if v, ok := static[syns[i].Name]; ok {
				pick, raw = &syns[i], v
				break
			}
		}
		if pick == nil {
			for i := range syns {
				if syns[i].Default != "" {
					pick, raw = &syns[i], syns[i].Default
					break
				}
			}
		}
		if pick == nil {
			return nil, fmt.Errorf("topic config %s has no broker default: %w", tk.Name, ErrInvalidConfig)
		}
		value := trim(raw)
		if unit := unitMs(pick.Name); unit != 1 || tk.Name == "retention.ms" {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return nil, &Error{Key: pick.Name, Value: raw, Reason: "not a number"}
			}
			n *= unit // hours and minutes are ints: no overflow
			if tk.Name == "retention.ms" {
				if n == 0 {
					return nil, &Error{Key: pick.Name, Value: raw, Reason: "must be -1 (unlimited) or at least 1 ms"}
				}
				n = max(n, -1)
			}
			value = strconv.FormatInt(n, 10)
		}
		out[tk.Name] = topicDefault{value: value, supplier: *pick, raw: raw}
	}
	return out, nil
}

// unitMs returns the milliseconds in one unit of a broker time key.
func unitMs(name string) int64 {
	switch {
	case strings.HasSuffix(name, ".hours"):
		return int64(time.Hour / time.Millisecond)
	case strings.HasSuffix(name, ".minutes"):
		return int64(time.Minute / time.Millisecond)
	}
	return 1
}

// brokerTopicDefaults derives the broker's topic defaults and parses them,
// blaming the broker key that supplied a bad value.
func brokerTopicDefaults(t *Table, static map[string]string) (map[string]string, Topic, error) {
	defs, err := deriveTopicDefaults(t, static)
	if err != nil {
		return nil, Topic{}, err
	}
	raw := make(map[string]string, len(defs))
	for name, d := range defs {
		raw[name] = d.value
	}
	tc, err := parseTopic(t, raw)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			if d, ok := defs[ce.Key]; ok {
				return nil, Topic{}, &Error{Key: d.supplier.Name, Value: d.raw, Reason: ce.Reason}
			}
		}
		return nil, Topic{}, err
	}
	return raw, tc, nil
}
