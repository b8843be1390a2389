// Package file is Fjord Connect's FileStream connectors, Kafka's
// FileStreamSourceConnector and FileStreamSinkConnector under the same
// class names and keys: the source turns each line of a file (or stdin)
// into a record, the sink writes each record's value as a line.
//
// Invariants: a source record's offset {"position": n} is the byte offset
// just after its line, so the line is emitted once its newline is read and
// a task restarted from a committed offset starts at the next unread line;
// the sink's Flush returns only once everything put before it is on disk
// (fsynced), so offsets the runtime commits after it never name lines that
// could still be lost.
package file

import (
	"fmt"

	"github.com/fjordstream/fjord/internal/connect"
)

// Kafka's class names of the two connectors.
const (
	SourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	SinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
)

// Version is the connectors' version, as GET /connector-plugins shows it.
const Version = "1.0.0"

// Configuration keys and source offset fields, Kafka's names.
const (
	KeyFile      = "file"
	KeyTopic     = "topic"
	KeyBatchSize = "batch.size"
	// FieldFilename is the source partition's key, FieldPosition the
	// source offset's.
	FieldFilename = "filename"
	FieldPosition = "position"
	// DefaultBatchSize is batch.size's default, Kafka's.
	DefaultBatchSize = 2000
)

// Register adds both connectors to r (their class names, simple names and
// the names without "Connector": FileStreamSource, FileStreamSink).
func Register(r *connect.Registry) error {
	if err := r.Register(connect.Plugin{Class: SourceClass, Type: connect.PluginSource, Version: Version,
		New: func() any { return &SourceConnector{} }}); err != nil {
		return fmt.Errorf("register %s: %w", SourceClass, err)
	}
	if err := r.Register(connect.Plugin{Class: SinkClass, Type: connect.PluginSink, Version: Version,
		New: func() any { return &SinkConnector{} }}); err != nil {
		return fmt.Errorf("register %s: %w", SinkClass, err)
	}
	return nil
}
