package connect

import (
	"maps"
	"slices"
	"time"
)

// NoPartition is Record.Partition when the producer's partitioner picks it.
const NoPartition int32 = -1

// Header is one record header with its schema (nil: schemaless).
type Header struct {
	Key    string
	Schema *Schema
	Value  any
}

// Record is Kafka Connect's ConnectRecord: what a source task produces,
// a sink task receives, and a transform maps. Treat it as a value: Clone
// before changing a record another stage may hold.
type Record struct {
	Topic     string
	Partition int32 // NoPartition: chosen by the producer
	KeySchema *Schema
	Key       any
	// ValueSchema nil with Value nil is a tombstone.
	ValueSchema *Schema
	Value       any
	// Timestamp is zero when the record has none (the producer stamps
	// it, or the topic's LogAppendTime does).
	Timestamp time.Time
	Headers   []Header
}

// Clone returns a copy whose header list may be changed freely (values and
// schemas are shared: they are immutable by convention).
func (r Record) Clone() Record {
	r.Headers = slices.Clone(r.Headers)
	return r
}

// Header returns the last header named key, or false.
func (r Record) Header(key string) (Header, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i], true
		}
	}
	return Header{}, false
}

// SourceRecord is a record a source task produced, with where it came from
// in the source system: SourcePartition names a stream of the source (a
// file, a table), SourceOffset the position in it after this record. The
// runtime commits the offset once the record is acknowledged, and hands it
// back through OffsetReader after a restart. Both maps hold only
// JSON-compatible values (string, bool, float64/int64, nil, nested maps
// and slices), as Kafka Connect's offset storage requires.
type SourceRecord struct {
	Record
	SourcePartition map[string]any
	SourceOffset    map[string]any
}

// Clone returns a copy (see Record.Clone); the source maps are copied too.
func (r SourceRecord) Clone() SourceRecord {
	r.Record = r.Record.Clone()
	r.SourcePartition, r.SourceOffset = maps.Clone(r.SourcePartition), maps.Clone(r.SourceOffset)
	return r
}

// TimestampType says what a consumed record's timestamp is.
type TimestampType int8

// Kafka's timestamp types.
const (
	NoTimestampType TimestampType = -1
	CreateTime      TimestampType = 0
	LogAppendTime   TimestampType = 1
)

// SinkRecord is a record a sink task receives: a consumed Kafka record,
// converted and transformed, with where it was read.
type SinkRecord struct {
	Record
	KafkaOffset   int64
	TimestampType TimestampType
	// OriginalTopic, OriginalPartition and OriginalOffset are where the
	// record was read before transforms renamed or re-partitioned it
	// (KIP-793), for sinks that commit by them.
	OriginalTopic     string
	OriginalPartition int32
	OriginalOffset    int64
}

// TopicPartition names a Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// RecordMetadata is what the broker answered for a source record's write.
type RecordMetadata struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
}
