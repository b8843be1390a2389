// Package datagen is Fjord Connect's mock data source, Confluent's
// kafka-connect-datagen (io.confluent.kafka.connect.datagen.DatagenConnector)
// under its class name and keys: each task generates records of a
// quickstart schema (users, pageviews, orders, stock_trades) or of a
// custom Avro schema with avro-random-generator arg.properties
// (schema.string, schema.filename), with a Struct value and its schema, a
// string key, and Confluent's headers and offsets.
// It is also what Fjord's load benchmarks drive, so generating a record
// allocates little: strings are boxed once, and a batch's structs, values
// and headers come from a few shared allocations.
//
// Invariants: a task's source offset holds its whole generator state (the
// record count and the random state after the record), so a task
// restarted from a committed offset generates exactly what the
// uninterrupted task would have generated next; with random.seed set, the
// records (all but the task.generation header) are a function of the seed,
// the task id and the record number alone.
package datagen

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// Class is Confluent's class name; "Datagen" and "DatagenConnector" also
// name it (the Registry adds them).
const Class = "io.confluent.kafka.connect.datagen.DatagenConnector"

// Version is the connector's version, as GET /connector-plugins shows it.
const Version = "1.0.0"

// Configuration keys, Confluent's names, and TaskID, the key the connector
// adds to each task's configuration.
const (
	KeyTopic          = "kafka.topic"
	KeyMaxInterval    = "max.interval"
	KeyIterations     = "iterations"
	KeyQuickstart     = "quickstart"
	KeySchemaKeyfield = "schema.keyfield"
	KeySchemaFilename = "schema.filename"
	KeySchemaString   = "schema.string"
	KeyRandomSeed     = "random.seed"
	TaskID            = "task.id"
)

// Source offset (and header) fields, Confluent's.
const (
	FieldTaskGeneration   = "task.generation"
	FieldCurrentIteration = "current.iteration"
	FieldRandomSeed       = "random.seed"
)

// Register adds the connector to r.
func Register(r *connect.Registry) error {
	if err := r.Register(connect.Plugin{Class: Class, Type: connect.PluginSource, Version: Version,
		New: func() any { return &Connector{} }}); err != nil {
		return fmt.Errorf("register %s: %w", Class, err)
	}
	return nil
}

// config declares Datagen's keys, as Confluent's DatagenConnectorConfig.
func config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: KeyTopic, Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High,
			Doc: "Topic to write to", Validator: func(v any) error {
				if strings.TrimSpace(v.(string)) == "" {
					return errors.New("String must be non-empty")
				}
				return nil
			}},
		{Name: KeyMaxInterval, Type: connect.ConfigLong, Default: "500", Importance: connect.High,
			Doc: "Max interval between messages (ms); each task waits a random time up to it before each record. 0 generates as fast as possible, in batches", Validator: func(v any) error {
				if v.(int64) < 0 {
					return errors.New("Value must be at least 0")
				}
				return nil
			}},
		{Name: KeyIterations, Type: connect.ConfigInt, Default: "-1", Importance: connect.High,
			Doc: "Number of messages to send in all, split across the tasks, or less than 1 for unlimited"},
		{Name: KeySchemaFilename, Type: connect.ConfigString, Default: "", Importance: connect.High,
			Doc: "Filename of schema to use: an Avro record schema with avro-random-generator arg.properties, read by the worker"},
		{Name: KeySchemaString, Type: connect.ConfigString, Default: "", Importance: connect.High,
			Doc: "The literal JSON-encoded Avro schema to use: a record with avro-random-generator arg.properties"},
		{Name: KeySchemaKeyfield, Type: connect.ConfigString, Default: "", Importance: connect.High,
			Doc: "Name of field to use as the message key (default: the quickstart's; none, a null key, for a custom schema)"},
		{Name: KeyQuickstart, Type: connect.ConfigString, Default: "", Importance: connect.High,
			Doc: "Name of quickstart to use", Recommended: Quickstarts(), Validator: func(v any) error {
				if _, ok := newQuickstart(v.(string)); !ok && v.(string) != "" {
					return fmt.Errorf("String must be one of: %s", strings.Join(Quickstarts(), ", "))
				}
				return nil
			}},
		{Name: KeyRandomSeed, Type: connect.ConfigLong, NullDefault: true, Importance: connect.Low,
			Doc: "Numeric seed for generating random data. Two connectors started with the same seed will deterministically produce the same data. Each task will generate different data than the other tasks in the same connector."},
	}
}

// settings is a parsed configuration.
type settings struct {
	topic       string
	maxInterval int64
	iterations  int64
	quickstart  quickstart
	keyIndex    int
	seed        int64
	seeded      bool
	taskID      int64
}

// parse reads and checks props: the keys' own checks, then what depends
// on several (see resolveSchema).
func parse(props map[string]string) (settings, error) {
	p, err := config().Parse(props)
	if err != nil {
		return settings{}, err
	}
	s := settings{topic: p.String(KeyTopic), maxInterval: p.Int(KeyMaxInterval), iterations: p.Int(KeyIterations)}
	var bad string
	if s.quickstart, s.keyIndex, bad, err = resolveSchema(props); err != nil {
		return settings{}, fmt.Errorf("%s: %w", bad, err)
	}
	if p.IsSet(KeyRandomSeed) {
		s.seed, s.seeded = p.Int(KeyRandomSeed), true
	}
	if id, ok := props[TaskID]; ok {
		if s.taskID, err = strconv.ParseInt(strings.TrimSpace(id), 10, 32); err != nil || s.taskID < 0 {
			return settings{}, fmt.Errorf("invalid %s %q", TaskID, id)
		}
	}
	return s, nil
}

// resolveSchema finds the schema records are made of: exactly one of
// quickstart, schema.filename and schema.string, as Confluent's
// connector demands. It returns the schema's generators and the index of
// the key field (-1: null keys, a custom schema's default), or the key
// at fault and why.
func resolveSchema(props map[string]string) (q quickstart, keyIndex int, bad string, err error) {
	name := strings.TrimSpace(props[KeyQuickstart])
	file := strings.TrimSpace(props[KeySchemaFilename])
	text := strings.TrimSpace(props[KeySchemaString])
	set := 0
	for _, v := range []string{name, file, text} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return q, 0, KeyQuickstart, fmt.Errorf("exactly one of %s (one of %s), %s and %s must be set, not %d",
			KeyQuickstart, strings.Join(Quickstarts(), ", "), KeySchemaFilename, KeySchemaString, set)
	}
	keyField := strings.TrimSpace(props[KeySchemaKeyfield])
	switch {
	case name != "":
		var ok bool
		if q, ok = newQuickstart(name); !ok {
			return q, 0, KeyQuickstart, fmt.Errorf("String must be one of: %s", strings.Join(Quickstarts(), ", "))
		}
		if keyField == "" {
			keyField = q.keyField
		}
	case file != "":
		raw, rerr := readSchemaFile(file)
		if rerr != nil {
			return q, 0, KeySchemaFilename, fmt.Errorf("read the schema: %w", rerr)
		}
		if q, err = parseAvroSchema(string(raw)); err != nil {
			return q, 0, KeySchemaFilename, err
		}
	default:
		if q, err = parseAvroSchema(text); err != nil {
			return q, 0, KeySchemaString, err
		}
	}
	if keyField == "" {
		return q, -1, "", nil
	}
	f := q.schema.Field(keyField)
	if f == nil || f.Schema.Type == connect.TypeStruct || f.Schema.Type == connect.TypeBytes {
		return q, 0, KeySchemaKeyfield, fmt.Errorf("%q is not a top-level field of the schema that is neither a record nor bytes", keyField)
	}
	return q, f.Index, "", nil
}

// maxSchemaFile bounds schema.filename: a schema is a few kilobytes, and
// validation (a REST call) reads the file too.
const maxSchemaFile = 4 << 20

// readSchemaFile reads a regular file of at most maxSchemaFile bytes.
func readSchemaFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxSchemaFile+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxSchemaFile {
		return nil, fmt.Errorf("%s is over %d bytes", path, maxSchemaFile)
	}
	return raw, nil
}

// Connector is Confluent's DatagenConnector: tasks.max tasks, each with its
// task.id and its share of iterations.
type Connector struct {
	props map[string]string
	s     settings
}

// Version returns the connector's version.
func (c *Connector) Version() string { return Version }

// Config declares Datagen's keys.
func (c *Connector) Config() connect.ConfigDef { return config() }

// Validate reports what the keys' own checks cannot: which schema to
// use (exactly one of quickstart, schema.filename, schema.string), whether
// a custom one can be generated, and whether the key field is in it.
func (c *Connector) Validate(props map[string]string) []connect.ConfigValue {
	if _, _, bad, err := resolveSchema(props); err != nil {
		if bad == KeyQuickstart && strings.HasPrefix(err.Error(), "String must be one of") {
			return nil // an unknown quickstart is the ConfigDef's finding
		}
		v := props[bad]
		return []connect.ConfigValue{{Name: bad, Value: &v, RecommendedValues: []string{}, Errors: []string{err.Error()}, Visible: true}}
	}
	return nil
}

// Start checks the configuration and keeps it for the tasks.
func (c *Connector) Start(_ connect.ConnectorContext, props map[string]string) error {
	s, err := parse(props)
	if err != nil {
		return fmt.Errorf("Datagen connector could not start because of an error in the configuration: %w", err)
	}
	c.props, c.s = maps.Clone(props), s
	return nil
}

// TaskConfigs returns maxTasks configurations (fewer when iterations is
// smaller), each with its task.id and iterations set to its share of the
// total: the first iterations%n tasks generate one more.
func (c *Connector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	n := int64(maxTasks)
	if c.s.iterations > 0 {
		n = min(n, c.s.iterations)
	}
	out := make([]map[string]string, 0, max(n, 0))
	for i := range n {
		cfg := maps.Clone(c.props)
		cfg[TaskID] = strconv.FormatInt(i, 10)
		if c.s.iterations > 0 {
			share := c.s.iterations / n
			if i < c.s.iterations%n {
				share++
			}
			cfg[KeyIterations] = strconv.FormatInt(share, 10)
		}
		out = append(out, cfg)
	}
	return out, nil
}

// Stop ends the connector; it holds no resources.
func (c *Connector) Stop() error { return nil }

// NewTask returns an unstarted Task.
func (c *Connector) NewTask() connect.SourceTask { return NewTask() }

// sortedKeys is for messages that list a map's keys.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
