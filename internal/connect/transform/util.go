package transform

import (
	"fmt"
	"maps"
	"sync"

	"github.com/fjordstream/fjord/internal/connect"
)

// Version is the version the REST API reports for the built-in transforms
// and predicates.
const Version = "1.0.0"

// side picks the part of a record a $Key or $Value transform works on.
type side bool

const (
	onKey   side = true
	onValue side = false
)

func (s side) get(r connect.Record) (*connect.Schema, any) {
	if s == onKey {
		return r.KeySchema, r.Key
	}
	return r.ValueSchema, r.Value
}

// set returns a copy of r with the part replaced (r itself is a value:
// the caller's record is untouched).
func (s side) set(r connect.Record, schema *connect.Schema, value any) connect.Record {
	if s == onKey {
		r.KeySchema, r.Key = schema, value
	} else {
		r.ValueSchema, r.Value = schema, value
	}
	return r
}

func (s side) suffix() string {
	if s == onKey {
		return "$Key"
	}
	return "$Value"
}

// requireStruct returns value as a struct, or Kafka's error for purpose.
func requireStruct(value any, purpose string) (*connect.Struct, error) {
	st, ok := value.(*connect.Struct)
	if !ok || st == nil {
		return nil, fmt.Errorf("%w: Only Struct objects supported for [%s], found: %s", connect.ErrData, purpose, typeName(value))
	}
	return st, nil
}

// requireMap returns a schemaless value as a map, or Kafka's error.
func requireMap(value any, purpose string) (map[string]any, error) {
	m, ok := value.(map[string]any)
	if !ok || m == nil {
		return nil, fmt.Errorf("%w: Only Map objects supported in absence of schema for [%s], found: %s", connect.ErrData, purpose, typeName(value))
	}
	return m, nil
}

func typeName(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// structBasics returns a new struct schema with source's name, version,
// doc and parameters, as Kafka's SchemaUtil.copySchemaBasics (which
// leaves optionality and the default behind).
func structBasics(source *connect.Schema) *connect.Schema {
	return &connect.Schema{Type: connect.TypeStruct, Name: source.Name, Version: source.Version, Doc: source.Doc, Parameters: maps.Clone(source.Parameters)}
}

// addField appends a field to a schema being built.
func addField(s *connect.Schema, name string, fs *connect.Schema) error {
	if s.Field(name) != nil {
		return fmt.Errorf("%w: Cannot create field because of field name duplication %s", connect.ErrData, name)
	}
	s.Fields = append(s.Fields, connect.Field{Name: name, Index: len(s.Fields), Schema: fs})
	return nil
}

// fieldValue returns a struct's value of a field, the field's default for
// a null when replaceNull (Kafka's replace.null.with.default), else the
// raw value.
func fieldValue(st *connect.Struct, f connect.Field, replaceNull bool) any {
	v := st.Values[f.Index]
	if v == nil && replaceNull {
		return f.Schema.Default
	}
	return v
}

// schemaCache remembers the schema derived from each input schema, as
// Kafka's transforms' 16-entry caches do, so a stream of records of one
// schema shares one output schema (and converters see one schema).
type schemaCache struct {
	mu sync.Mutex
	m  map[*connect.Schema]*connect.Schema
}

const schemaCacheSize = 16

func (c *schemaCache) get(in *connect.Schema, build func() (*connect.Schema, error)) (*connect.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if out, ok := c.m[in]; ok {
		return out, nil
	}
	out, err := build()
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) >= schemaCacheSize {
		c.m = map[*connect.Schema]*connect.Schema{}
	}
	c.m[in] = out
	return out, nil
}

// replaceNullConfig is the replace.null.with.default key of KIP-1040.
func replaceNullConfig() connect.ConfigKey {
	return connect.ConfigKey{Name: "replace.null.with.default", Type: connect.ConfigBoolean, Default: "true", Importance: connect.Medium,
		Doc: "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used."}
}

// parse validates props against def, wrapping the error with the
// transform's name.
func parse(name string, def connect.ConfigDef, props map[string]string) (*connect.Props, error) {
	p, err := def.Parse(props)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}
