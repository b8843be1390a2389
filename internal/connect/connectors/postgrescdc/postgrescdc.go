// Package postgrescdc is Fjord Connect's PostgreSQL change-data-capture
// source, Debezium's PostgreSQL connector
// (io.debezium.connector.postgresql.PostgresConnector) under its class
// name and keys: a task takes a consistent snapshot of the included tables
// inside the snapshot its replication slot exported (op "r"), then streams
// their inserts, updates and deletes from the slot with logical
// replication (pgoutput, protocol v1) as Debezium change events (op c, u,
// d) on topics <topic.prefix>.<schema>.<table>.
//
// Invariants: events are emitted in commit order, a transaction's events
// in WAL order; every record's source offset names its transaction's
// commit LSN and its place in the transaction, so a task restarted from a
// stored offset resumes right after the last stored record, skipping
// nothing and repeating nothing stored; the slot is told an LSN is
// flushed only once an offset naming it was stored (after Kafka
// acknowledged its record), so the slot keeps every change a killed
// worker had not committed.
package postgrescdc

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// Class is Debezium's class name; "PostgresCdc", "PostgresConnector" and
// "Postgres" also name it.
const Class = "io.debezium.connector.postgresql.PostgresConnector"

// Alias is Fjord's short name for the connector.
const Alias = "PostgresCdc"

// Version is the connector's version, as GET /connector-plugins shows it
// and the source block's version field carries.
const Version = "1.0.0"

// Configuration keys, Debezium's names.
const (
	KeyHostname        = "database.hostname"
	KeyPort            = "database.port"
	KeyUser            = "database.user"
	KeyPassword        = "database.password"
	KeyDBName          = "database.dbname"
	KeySSLMode         = "database.sslmode"
	KeyTopicPrefix     = "topic.prefix"
	KeyTableInclude    = "table.include.list"
	KeyPluginName      = "plugin.name"
	KeySlotName        = "slot.name"
	KeyPublicationName = "publication.name"
	KeySnapshotMode    = "snapshot.mode"
	KeyTombstones      = "tombstones.on.delete"
	KeyStatusInterval  = "status.update.interval.ms"
	KeyMaxBatchSize    = "max.batch.size"
)

// Snapshot modes (snapshot.mode).
const (
	SnapshotInitial     = "initial"
	SnapshotNever       = "never"
	SnapshotInitialOnly = "initial_only"
)

// Offset fields: Debezium's lsn, txId and ts_usec, plus the record's
// place in its transaction (event) and the snapshot markers.
const (
	OffsetLSN          = "lsn"
	OffsetTxID         = "txId"
	OffsetTsUsec       = "ts_usec"
	OffsetEvent        = "event"
	OffsetSnapshot     = "snapshot"
	OffsetLastSnapshot = "last_snapshot_record"
	partitionServer    = "server"
)

// Register adds the connector to r.
func Register(r *connect.Registry) error {
	if err := r.Register(connect.Plugin{Class: Class, Aliases: []string{Alias}, Type: connect.PluginSource, Version: Version,
		New: func() any { return &Connector{} }}); err != nil {
		return fmt.Errorf("register %s: %w", Class, err)
	}
	return nil
}

func nonEmpty(v any) error {
	if strings.TrimSpace(v.(string)) == "" {
		return errors.New("String must be non-empty")
	}
	return nil
}

// identifier rejects names PostgreSQL's replication commands would need
// quoting for: slot names are [a-z0-9_] by PostgreSQL's own rule.
func identifier(v any) error {
	if !regexp.MustCompile(`^[a-z0-9_]{1,63}$`).MatchString(v.(string)) {
		return errors.New("must be 1 to 63 lower-case letters, digits or underscores")
	}
	return nil
}

// config declares the keys, as Debezium's PostgresConnectorConfig.
func config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeyHostname, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Doc: "Resolvable hostname or IP address of the database server.", Validator: nonEmpty},
		{Name: KeyPort, Type: connect.ConfigInt, Default: "5432", Importance: connect.High, Doc: "Port of the database server."},
		{Name: KeyUser, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Doc: "Name of the database user (needs the REPLICATION attribute, and CREATE on the database when the publication is created).", Validator: nonEmpty},
		{Name: KeyPassword, Type: connect.ConfigPassword, Default: "", Importance: connect.High, Doc: "Password of the database user."},
		{Name: KeyDBName, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Doc: "The name of the database from which to stream the changes.", Validator: nonEmpty},
		{Name: KeySSLMode, Type: connect.ConfigString, Default: "prefer", Importance: connect.Medium, Doc: "Whether to use an encrypted connection: disable, allow, prefer, require, verify-ca or verify-full.",
			Validator: connect.OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full")},
		{Name: KeyTopicPrefix, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Doc: "Topic prefix naming the server: topics are <prefix>.<schema>.<table>; also the source partition and the source block's name.", Validator: nonEmpty},
		{Name: KeyTableInclude, Type: connect.ConfigList, Default: "", Importance: connect.High, Doc: "Regular expressions matched against the whole <schema>.<table> of the tables to capture; empty: every table outside the system schemas."},
		{Name: KeyPluginName, Type: connect.ConfigString, Default: "pgoutput", Importance: connect.Medium, Doc: "The logical decoding plugin; only pgoutput is supported.", Validator: connect.OneOf("pgoutput")},
		{Name: KeySlotName, Type: connect.ConfigString, Default: "debezium", Importance: connect.Medium, Doc: "The name of the logical replication slot, created if missing.", Validator: identifier},
		{Name: KeyPublicationName, Type: connect.ConfigString, Default: "dbz_publication", Importance: connect.Medium, Doc: "The name of the publication, created for the included tables (for all tables when none is listed) if missing.", Validator: identifier},
		{Name: KeySnapshotMode, Type: connect.ConfigString, Default: SnapshotInitial, Importance: connect.Medium, Recommended: []string{SnapshotInitial, SnapshotNever, SnapshotInitialOnly},
			Doc: "initial: snapshot the tables when no offset was stored, then stream; never: only stream; initial_only: snapshot, then stop producing.", Validator: connect.OneOf(SnapshotInitial, SnapshotNever, SnapshotInitialOnly)},
		{Name: KeyTombstones, Type: connect.ConfigBoolean, Default: "true", Importance: connect.Low, Doc: "Whether a delete event is followed by a tombstone (the key and a null value) so log compaction can drop the row."},
		{Name: KeyStatusInterval, Type: connect.ConfigInt, Default: "10000", Importance: connect.Low, Doc: "Milliseconds between the standby status updates (keepalives carrying the confirmed LSN) sent to the server.", Validator: func(v any) error {
			if v.(int32) < 10 {
				return errors.New("Value must be at least 10")
			}
			return nil
		}},
		{Name: KeyMaxBatchSize, Type: connect.ConfigInt, Default: "2048", Importance: connect.Low, Doc: "The most records one poll returns.", Validator: func(v any) error {
			if v.(int32) < 1 {
				return errors.New("Value must be at least 1")
			}
			return nil
		}},
	}
}

// settings is a parsed configuration.
type settings struct {
	host, user, password, dbname, sslmode string
	port                                  int
	prefix                                string
	include                               []*regexp.Regexp
	slot, publication, snapshotMode       string
	tombstones                            bool
	statusInterval                        time.Duration
	maxBatch                              int
}

func parse(props map[string]string) (settings, error) {
	p, err := config().Parse(props)
	if err != nil {
		return settings{}, err
	}
	s := settings{host: p.String(KeyHostname), port: int(p.Int(KeyPort)), user: p.String(KeyUser), password: p.String(KeyPassword),
		dbname: p.String(KeyDBName), sslmode: p.String(KeySSLMode), prefix: p.String(KeyTopicPrefix), slot: p.String(KeySlotName),
		publication: p.String(KeyPublicationName), snapshotMode: strings.ToLower(p.String(KeySnapshotMode)), tombstones: p.Bool(KeyTombstones),
		statusInterval: time.Duration(p.Int(KeyStatusInterval)) * time.Millisecond, maxBatch: int(p.Int(KeyMaxBatchSize))}
	for _, e := range p.List(KeyTableInclude) {
		if e == "" {
			continue
		}
		// Debezium matches the whole identifier, not a substring.
		re, err := regexp.Compile("^(?:" + e + ")$")
		if err != nil {
			return settings{}, fmt.Errorf("Invalid value %s for configuration %s: %v", e, KeyTableInclude, err)
		}
		s.include = append(s.include, re)
	}
	return s, nil
}

// includes reports whether schema.table is captured.
func (s settings) includes(schema, table string) bool {
	if len(s.include) == 0 {
		return true
	}
	for _, re := range s.include {
		if re.MatchString(schema + "." + table) {
			return true
		}
	}
	return false
}

// Connector is Debezium's PostgresConnector: one task, since one slot
// serves one reader.
type Connector struct {
	props map[string]string
}

// Version implements connect.Connector.
func (c *Connector) Version() string { return Version }

// Config implements connect.Connector.
func (c *Connector) Config() connect.ConfigDef { return config() }

// Start implements connect.Connector.
func (c *Connector) Start(_ connect.ConnectorContext, props map[string]string) error {
	if _, err := parse(props); err != nil {
		return fmt.Errorf("postgres cdc connector: %w", err)
	}
	c.props = props
	return nil
}

// TaskConfigs implements connect.Connector: a replication slot has one
// reader, so there is one task whatever tasks.max says.
func (c *Connector) TaskConfigs(int) ([]map[string]string, error) {
	cfg := make(map[string]string, len(c.props))
	for k, v := range c.props {
		cfg[k] = v
	}
	return []map[string]string{cfg}, nil
}

// Stop implements connect.Connector.
func (c *Connector) Stop() error { return nil }

// NewTask implements connect.SourceConnector.
func (c *Connector) NewTask() connect.SourceTask { return NewTask() }
