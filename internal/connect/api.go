package connect

import (
	"context"
	"time"
)

// Connector is what every connector implements, Kafka Connect's
// Connector: it validates its configuration, splits the work into task
// configurations, and watches the external system for changes that need
// new task configurations.
type Connector interface {
	// Version is the connector's version, shown by the REST API.
	Version() string
	// Config declares the connector's own configuration keys (the
	// worker adds the common ones: name, connector.class, tasks.max,
	// converters, transforms, errors.*).
	Config() ConfigDef
	// Start begins with the connector's configuration (every key, the
	// common ones included). The context's methods may be called from
	// any goroutine until Stop returns.
	Start(ctx ConnectorContext, props map[string]string) error
	// TaskConfigs returns at most maxTasks task configurations.
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	// Stop ends the connector; Start may follow with a new configuration.
	Stop() error
}

// ConnectorValidator is implemented by a connector that checks more than
// its ConfigDef can say (keys that depend on each other); the runtime
// calls it after the ConfigDef's checks and merges its findings.
type ConnectorValidator interface {
	Validate(props map[string]string) []ConfigValue
}

// ConnectorContext is the runtime's side of a running connector.
type ConnectorContext interface {
	// RequestTaskReconfiguration asks the runtime to call TaskConfigs
	// again (the external system changed: a table was added).
	RequestTaskReconfiguration()
	// RaiseError fails the connector: it is stopped and reported FAILED
	// with err.
	RaiseError(err error)
}

// SourceConnector is a connector whose tasks read an external system and
// produce to Kafka.
type SourceConnector interface {
	Connector
	// NewTask returns a new, unstarted task.
	NewTask() SourceTask
}

// SinkConnector is a connector whose tasks consume from Kafka and write to
// an external system.
type SinkConnector interface {
	Connector
	// NewTask returns a new, unstarted task.
	NewTask() SinkTask
}

// SourceTask reads an external system, Kafka Connect's SourceTask. The
// runtime calls Poll from one goroutine; Stop may come from another, while
// a Poll is blocked, and must make it return soon.
type SourceTask interface {
	// Start begins with the task's configuration (one of TaskConfigs').
	Start(ctx SourceTaskContext, props map[string]string) error
	// Poll returns the next records, or none (nil) after waiting a while
	// (a second, say) when nothing is new; ctx ends when the task stops.
	Poll(ctx context.Context) ([]SourceRecord, error)
	// Stop ends the task.
	Stop() error
}

// SourceTaskCommitter is implemented by a source task that acknowledges
// records to its source system once Kafka has them (Kafka Connect's
// commitRecord), or wants to hear when offsets were committed (commit).
type SourceTaskCommitter interface {
	// CommitRecord is called once the record was written to Kafka
	// (meta nil when a transform dropped it or errors.tolerance skipped
	// it).
	CommitRecord(r SourceRecord, meta *RecordMetadata) error
	// Commit is called after the offsets of acknowledged records were
	// committed.
	Commit() error
}

// SourceTaskContext is the runtime's side of a running source task.
type SourceTaskContext interface {
	// Config is the task's configuration.
	Config() map[string]string
	// Offset returns the last committed source offset of a source
	// partition, or nil when none was committed.
	Offset(partition map[string]any) (map[string]any, error)
}

// SinkTask writes records to an external system, Kafka Connect's
// SinkTask. The runtime calls it from one goroutine.
type SinkTask interface {
	// Start begins with the task's configuration.
	Start(ctx SinkTaskContext, props map[string]string) error
	// Open is called when partitions are assigned to the task, before
	// records of them are put.
	Open(partitions []TopicPartition) error
	// Put hands the task records to write; it may write them now or
	// buffer them until Flush. An error marked Retriable (see
	// RetriableError) makes the runtime pass the same records again after
	// a backoff; any other fails the task.
	Put(records []SinkRecord) error
	// Flush writes everything put so far: the runtime then commits the
	// consumer offsets. offsets are the next offsets to read per
	// partition (what would be committed). A task that commits to its
	// own system may return the offsets safe to commit instead
	// (PreCommitter).
	Flush(offsets map[TopicPartition]int64) error
	// Close is called when partitions are revoked, after a final Flush.
	Close(partitions []TopicPartition) error
	// Stop ends the task.
	Stop() error
}

// PreCommitter is implemented by a sink task that decides which offsets
// may be committed (Kafka Connect's preCommit): the runtime commits the
// returned ones instead of calling Flush.
type PreCommitter interface {
	PreCommit(offsets map[TopicPartition]int64) (map[TopicPartition]int64, error)
}

// SinkTaskContext is the runtime's side of a running sink task.
type SinkTaskContext interface {
	// Config is the task's configuration.
	Config() map[string]string
	// Assignment is the partitions the task holds now.
	Assignment() []TopicPartition
	// Offset rewinds (or forwards) partitions to the given offsets before
	// the next records are put.
	Offset(offsets map[TopicPartition]int64)
	// Timeout asks the runtime to wait d before passing the same records
	// again after a retriable Put error.
	Timeout(d time.Duration)
	// Pause and Resume stop and restart consumption of partitions.
	Pause(partitions ...TopicPartition)
	Resume(partitions ...TopicPartition)
	// RequestCommit asks for an offset commit (Flush then commit) soon.
	RequestCommit()
	// ReportError sends a record the task could not write to the
	// dead-letter queue, or fails the task, as errors.tolerance says
	// (Kafka Connect's ErrantRecordReporter); nil when the runtime has
	// no reporter.
	ReportError(r SinkRecord, err error) error
}

// RetriableError marks an error as retriable, Kafka Connect's
// RetriableException: the runtime tries again (within
// errors.retry.timeout for converters and transforms; after a backoff
// for Put) instead of failing the task.
type RetriableError struct{ Err error }

func (e *RetriableError) Error() string { return "retriable: " + e.Err.Error() }
func (e *RetriableError) Unwrap() error { return e.Err }

// Converter turns connect data into bytes and back, Kafka Connect's
// Converter (key.converter, value.converter).
type Converter interface {
	// Configure sets the converter up for keys (isKey) or values with
	// the converter's properties (the prefix removed).
	Configure(props map[string]string, isKey bool) error
	// FromConnectData serializes a value of schema (nil: schemaless).
	FromConnectData(topic string, headers []Header, schema *Schema, value any) ([]byte, error)
	// ToConnectData deserializes bytes (nil: null) into a schema and a
	// value.
	ToConnectData(topic string, headers []Header, data []byte) (*Schema, any, error)
}

// HeaderConverter turns header values into bytes and back
// (header.converter).
type HeaderConverter interface {
	Configure(props map[string]string) error
	FromConnectHeader(topic, key string, schema *Schema, value any) ([]byte, error)
	ToConnectHeader(topic, key string, data []byte) (*Schema, any, error)
}

// Transformation is a single-message transform, Kafka Connect's
// Transformation: it maps one record to another, or drops it (false).
type Transformation interface {
	// Config declares the transform's keys.
	Config() ConfigDef
	// Configure sets the transform up (its keys, the prefix removed).
	Configure(props map[string]string) error
	// Apply maps r; it must not change r's contents in place.
	Apply(r Record) (out Record, keep bool, err error)
}

// Predicate decides whether a transform applies to a record, Kafka
// Connect's Predicate (KIP-585).
type Predicate interface {
	Config() ConfigDef
	Configure(props map[string]string) error
	Test(r Record) (bool, error)
}
