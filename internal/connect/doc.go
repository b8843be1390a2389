// Package connect is Fjord Connect's core: the data model (schemas,
// structs, records), the interfaces a connector, its tasks, a converter, a
// single-message transform and a predicate implement, the configuration
// definitions they declare, and the herder interface the REST API drives.
// It mirrors Kafka Connect's public API (org.apache.kafka.connect.*) in Go,
// under Kafka's names, so a Kafka Connect user finds the same concepts and
// configs: SourceConnector, SinkTask, ConnectRecord, Schema, Struct,
// Converter, Transformation, ConfigDef.
//
// It does no I/O and starts no goroutines: the runtime (workers, herders)
// runs connectors; converters and transforms are pure functions of their
// configuration and input.
//
// Invariants: a Schema is immutable once built (shared by every record
// that uses it); a Struct's values match its schema's fields one for one
// (Validate checks it); records are values, copied when changed, so a
// transform never alters what an earlier stage holds.
package connect
