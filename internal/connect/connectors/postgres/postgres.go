// Package postgres is Fjord Connect's PostgreSQL sink connector: it writes
// records with schemas (Struct values) as rows of PostgreSQL tables through
// pgx, under the key names of Confluent's JDBC sink connector
// (connection.url, insert.mode, pk.mode, auto.create, ...).
//
// Invariants: Put only buffers; Flush writes everything buffered in one
// transaction and returns only after it committed, so the offsets the
// runtime commits after Flush never name a row that could still be lost
// (at least once; upsert makes the replay after a crash idempotent). A
// failed Flush leaves nothing of its records in the database and drops its
// buffer, because the runtime rewinds to the committed offsets and puts
// the same records again.
//
// With offsets.table.name set, the next offset of every partition written
// is kept in that table, in the same transaction as the rows, and Open
// rewinds the consumer to it: the table, not the consumer group, says what
// PostgreSQL has, so a crash between the database commit and the consumer
// group's commit replays nothing (exactly once into PostgreSQL).
package postgres

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fjordstream/fjord/internal/connect"
)

// Class is the connector's class name; Alias is its short name.
const (
	Class = "io.fjord.connect.postgres.PostgresSinkConnector"
	Alias = "PostgresSink"
)

// Version is the connector's version, as GET /connector-plugins shows it.
const Version = "1.0.0"

// Configuration keys: Confluent's JDBC sink names, plus query.timeout.ms
// (Fjord's: every statement is bounded).
const (
	KeyURL           = "connection.url"
	KeyUser          = "connection.user"
	KeyPassword      = "connection.password"
	KeyTableFormat   = "table.name.format"
	KeyInsertMode    = "insert.mode"
	KeyPKMode        = "pk.mode"
	KeyPKFields      = "pk.fields"
	KeyAutoCreate    = "auto.create"
	KeyAutoEvolve    = "auto.evolve"
	KeyDeleteEnabled = "delete.enabled"
	KeyBatchSize     = "batch.size"
	KeyMaxRetries    = "max.retries"
	KeyRetryBackoff  = "retry.backoff.ms"
	KeyQueryTimeout  = "query.timeout.ms"
	KeyOffsetsTable  = "offsets.table.name"
)

// Values of insert.mode and pk.mode.
const (
	InsertModeInsert = "insert"
	InsertModeUpsert = "upsert"

	PKModeNone        = "none"
	PKModeRecordKey   = "record_key"
	PKModeRecordValue = "record_value"
	PKModeKafka       = "kafka"
)

// Column names of pk.mode=kafka when pk.fields is empty, and of a
// primitive key under pk.mode=record_key, as Confluent's.
const (
	KafkaTopicColumn     = "__connect_topic"
	KafkaPartitionColumn = "__connect_partition"
	KafkaOffsetColumn    = "__connect_offset"
	PrimitiveKeyColumn   = "__connect_key"
)

// Register adds the connector to r under Class, its simple names and
// Alias. Confluent's io.confluent.connect.jdbc.JdbcSinkConnector is not
// claimed: this connector speaks only PostgreSQL and lacks keys of that
// one (fields.whitelist, insert.mode=update, db.timezone, ...).
func Register(r *connect.Registry) error {
	if err := r.Register(connect.Plugin{Class: Class, Aliases: []string{Alias}, Type: connect.PluginSink, Version: Version,
		New: func() any { return &SinkConnector{} }}); err != nil {
		return fmt.Errorf("register %s: %w", Class, err)
	}
	return nil
}

const groupConn, groupWrites, groupDDL, groupRetries = "Connection", "Writes", "DDL Support", "Retries"

// config declares the connector's keys with Confluent's defaults.
func config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeyURL, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Group: groupConn, OrderInGroup: 1, DisplayName: "JDBC URL",
			Doc: "PostgreSQL connection URL: postgres://host:port/db?... or jdbc:postgresql://host:port/db?...", Validator: validURL},
		{Name: KeyUser, Type: connect.ConfigString, NullDefault: true, Importance: connect.High, Group: groupConn, OrderInGroup: 2, DisplayName: "JDBC User",
			Doc: "PostgreSQL connection user (overrides the URL's)."},
		{Name: KeyPassword, Type: connect.ConfigPassword, NullDefault: true, Importance: connect.High, Group: groupConn, OrderInGroup: 3, DisplayName: "JDBC Password",
			Doc: "PostgreSQL connection password (overrides the URL's)."},
		{Name: KeyInsertMode, Type: connect.ConfigString, Default: InsertModeInsert, Importance: connect.High, Group: groupWrites, OrderInGroup: 1, DisplayName: "Insert Mode",
			Doc:         "The insertion mode to use: insert (plain INSERT) or upsert (INSERT ... ON CONFLICT (pk) DO UPDATE, idempotent).",
			Recommended: []string{InsertModeInsert, InsertModeUpsert}, Validator: connect.OneOf(InsertModeInsert, InsertModeUpsert)},
		{Name: KeyBatchSize, Type: connect.ConfigInt, Default: "3000", Importance: connect.Medium, Group: groupWrites, OrderInGroup: 2, DisplayName: "Batch Size",
			Doc: "Specifies how many records to send to the database in one round trip, when possible.", Validator: atLeast(1)},
		{Name: KeyDeleteEnabled, Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: groupWrites, OrderInGroup: 3, DisplayName: "Enable deletes",
			Doc: "Whether to treat null record values as deletes. Requires pk.mode to be record_key."},
		{Name: KeyTableFormat, Type: connect.ConfigString, Default: "${topic}", Importance: connect.Medium, Group: groupWrites, OrderInGroup: 4, DisplayName: "Table Name Format",
			Doc: "A format string for the destination table name, which may contain '${topic}' as a placeholder for the originating topic name. A '.' separates a schema from the table."},
		{Name: KeyPKMode, Type: connect.ConfigString, Default: PKModeNone, Importance: connect.High, Group: groupWrites, OrderInGroup: 5, DisplayName: "Primary Key Mode",
			Doc:         "The primary key mode: none, kafka (topic, partition, offset), record_key (fields of the key) or record_value (fields of the value).",
			Recommended: []string{PKModeNone, PKModeKafka, PKModeRecordKey, PKModeRecordValue}, Validator: connect.OneOf(PKModeNone, PKModeKafka, PKModeRecordKey, PKModeRecordValue)},
		{Name: KeyPKFields, Type: connect.ConfigList, Default: "", Importance: connect.Medium, Group: groupWrites, OrderInGroup: 6, DisplayName: "Primary Key Fields",
			Doc: "The primary key field names: for kafka three column names (default __connect_topic,__connect_partition,__connect_offset); for record_key the key's fields (all when empty) or the one column of a primitive key (default __connect_key); for record_value the value's fields (all when empty)."},
		{Name: KeyOffsetsTable, Type: connect.ConfigString, Default: "", Importance: connect.Medium, Group: groupWrites, OrderInGroup: 7, DisplayName: "Offsets Table",
			Doc: "Fjord's: a table (created if missing; a '.' separates a schema from the table) where each Flush records, in its own transaction, the next Kafka offset of every partition it wrote, and from which the task's partitions resume: exactly once into PostgreSQL across crashes. Empty: off, the consumer group's offsets alone say where to resume (at least once)."},
		{Name: KeyAutoCreate, Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: groupDDL, OrderInGroup: 1, DisplayName: "Auto-Create",
			Doc: "Whether to automatically create the destination table from the record schema (CREATE TABLE IF NOT EXISTS)."},
		{Name: KeyAutoEvolve, Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: groupDDL, OrderInGroup: 2, DisplayName: "Auto-Evolve",
			Doc: "Whether to automatically add columns to the table for new optional fields of the record schema (ALTER TABLE ADD COLUMN IF NOT EXISTS)."},
		{Name: KeyMaxRetries, Type: connect.ConfigInt, Default: "10", Importance: connect.Medium, Group: groupRetries, OrderInGroup: 1, DisplayName: "Maximum Retries",
			Doc: "The maximum number of times to retry a write on a transient error (connection lost, serialization failure) before the task gives up with a retriable error.", Validator: atLeast(0)},
		{Name: KeyRetryBackoff, Type: connect.ConfigInt, Default: "3000", Importance: connect.Medium, Group: groupRetries, OrderInGroup: 2, DisplayName: "Retry Backoff (millis)",
			Doc: "The time in milliseconds to wait following an error before a retry attempt is made.", Validator: atLeast(0)},
		{Name: KeyQueryTimeout, Type: connect.ConfigInt, Default: "30000", Importance: connect.Low, Group: groupRetries, OrderInGroup: 3, DisplayName: "Query Timeout (millis)",
			Doc: "Fjord's: the most one connection attempt or statement round trip may take.", Validator: atLeast(1)},
	}
}

func atLeast(n int32) func(any) error {
	return func(v any) error {
		if v.(int32) < n {
			return fmt.Errorf("Value must be at least %d", n)
		}
		return nil
	}
}

func validURL(v any) error {
	_, err := pgURL(v.(string))
	return err
}

// pgURL turns a jdbc:postgresql:// URL into the postgres:// one pgx
// parses; libpq's parameter names (user, password, sslmode) are JDBC's too.
func pgURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "jdbc:"); ok {
		s = rest
	}
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return "", errors.New("must be postgres://host:port/db or jdbc:postgresql://host:port/db")
	}
	return s, nil
}

// settings is a parsed and cross-checked configuration.
type settings struct {
	url, user, password  string
	userSet, passwordSet bool
	tableFormat          string
	upsert               bool
	pkMode               string
	pkFields             []string
	autoCreate           bool
	autoEvolve           bool
	deleteEnabled        bool
	batchSize            int
	maxRetries           int
	backoff              time.Duration
	timeout              time.Duration
	// offsetsTable is offsets.table.name split as table.name.format is
	// (nil: off); connector is the connector's name, its rows' key there.
	offsetsTable pgx.Identifier
	connector    string
}

// parse reads props and checks the keys that depend on each other.
func parse(props map[string]string) (*settings, error) {
	p, err := config().Parse(props)
	if err != nil {
		return nil, err
	}
	s := fromProps(p)
	if name, msg := s.check(); msg != "" {
		return nil, fmt.Errorf("Invalid value %s for configuration %s: %s", props[name], name, msg)
	}
	return s, nil
}

// fromProps reads parsed keys, unchecked.
func fromProps(p *connect.Props) *settings {
	url, _ := pgURL(p.String(KeyURL))
	var offsets pgx.Identifier
	if name := strings.TrimSpace(p.String(KeyOffsetsTable)); name != "" {
		offsets = pgx.Identifier(strings.Split(name, "."))
	}
	return &settings{
		offsetsTable: offsets, connector: p.Raw()[connect.KeyName],
		url: url, user: p.String(KeyUser), password: p.String(KeyPassword),
		userSet: p.IsSet(KeyUser), passwordSet: p.IsSet(KeyPassword),
		tableFormat: p.String(KeyTableFormat), upsert: strings.EqualFold(p.String(KeyInsertMode), InsertModeUpsert),
		pkMode: strings.ToLower(p.String(KeyPKMode)), pkFields: p.List(KeyPKFields),
		autoCreate: p.Bool(KeyAutoCreate), autoEvolve: p.Bool(KeyAutoEvolve), deleteEnabled: p.Bool(KeyDeleteEnabled),
		batchSize: int(p.Int(KeyBatchSize)), maxRetries: int(p.Int(KeyMaxRetries)),
		backoff: time.Duration(p.Int(KeyRetryBackoff)) * time.Millisecond, timeout: time.Duration(p.Int(KeyQueryTimeout)) * time.Millisecond,
	}
}

// check returns the key and message of the first inconsistency, or "".
func (s *settings) check() (string, string) {
	switch {
	case s.upsert && s.pkMode == PKModeNone:
		return KeyInsertMode, "upsert needs a primary key: set pk.mode to kafka, record_key or record_value"
	case s.deleteEnabled && s.pkMode != PKModeRecordKey:
		return KeyDeleteEnabled, "deletes need pk.mode=record_key"
	case s.pkMode == PKModeKafka && len(s.pkFields) != 0 && len(s.pkFields) != 3:
		return KeyPKFields, "pk.mode=kafka takes three column names (topic, partition, offset) or none"
	case s.pkMode == PKModeNone && len(s.pkFields) != 0:
		return KeyPKFields, "pk.fields needs a pk.mode other than none"
	case strings.TrimSpace(s.tableFormat) == "":
		return KeyTableFormat, "must not be empty"
	case slices.Contains(s.offsetsTable, ""):
		return KeyOffsetsTable, "a '.' must separate two non-empty names"
	case s.offsetsTable != nil && s.connector == "":
		return KeyOffsetsTable, "the offsets' rows are keyed by the connector's name, and name is not set"
	}
	return "", ""
}

// SinkConnector is the PostgreSQL sink connector: its tasks write records
// as rows; every task gets the same configuration (the runtime spreads the
// topic partitions over them).
type SinkConnector struct {
	props map[string]string
}

// Version returns the connector's version.
func (c *SinkConnector) Version() string { return Version }

// Config declares the connector's keys.
func (c *SinkConnector) Config() connect.ConfigDef { return config() }

// Validate reports the keys that contradict each other (upsert without a
// primary key, deletes without pk.mode=record_key).
func (c *SinkConnector) Validate(props map[string]string) []connect.ConfigValue {
	p, err := config().Parse(props)
	if err != nil {
		return nil // the ConfigDef's own findings say it
	}
	name, msg := fromProps(p).check()
	if msg == "" {
		return nil
	}
	v := props[name]
	return []connect.ConfigValue{{Name: name, Value: &v, RecommendedValues: []string{}, Errors: []string{msg}, Visible: true}}
}

// Start checks the configuration and keeps it for the tasks.
func (c *SinkConnector) Start(_ connect.ConnectorContext, props map[string]string) error {
	if _, err := parse(props); err != nil {
		return fmt.Errorf("postgres sink connector: %w", err)
	}
	c.props = maps.Clone(props)
	return nil
}

// TaskConfigs returns maxTasks copies of the configuration.
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, 0, max(maxTasks, 0))
	for range maxTasks {
		out = append(out, maps.Clone(c.props))
	}
	return out, nil
}

// Stop ends the connector; it holds no resources (tasks own connections).
func (c *SinkConnector) Stop() error { return nil }

// NewTask returns an unstarted SinkTask.
func (c *SinkConnector) NewTask() connect.SinkTask { return &SinkTask{} }
