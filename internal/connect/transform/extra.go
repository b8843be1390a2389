package transform

import (
	"fmt"
	"slices"

	"github.com/fjordstream/fjord/internal/connect"
)

// InsertHeader is Kafka's InsertHeader (KIP-145): it adds a header with a
// literal value to every record.
type InsertHeader struct {
	header, value string
}

// Config declares InsertHeader's keys.
func (*InsertHeader) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "header", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Validator: nonEmptyString,
			Doc: "The name of the header."},
		{Name: "value.literal", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High, Validator: nonEmptyString,
			Doc: "The literal value that is to be set as the header value on all records."},
	}
}

func nonEmptyString(v any) error {
	if v.(string) == "" {
		return fmt.Errorf("String must be non-empty")
	}
	return nil
}

// Configure reads the header name and value.
func (t *InsertHeader) Configure(props map[string]string) error {
	p, err := parse("InsertHeader", t.Config(), props)
	if err != nil {
		return err
	}
	t.header, t.value = p.String("header"), p.String("value.literal")
	return nil
}

// Apply adds the header. The value is a string (Kafka infers its type
// with Values.parseString; with the default SimpleHeaderConverter both
// write the same bytes).
func (t *InsertHeader) Apply(r connect.Record) (connect.Record, bool, error) {
	r = r.Clone()
	r.Headers = append(r.Headers, connect.Header{Key: t.header, Schema: connect.StringSchema, Value: t.value})
	return r, true, nil
}

// DropHeaders is Kafka's DropHeaders (KIP-145): it removes every header
// with one of the given names.
type DropHeaders struct{ names map[string]bool }

// Config declares DropHeaders' keys.
func (*DropHeaders) Config() connect.ConfigDef {
	return connect.ConfigDef{{Name: "headers", Type: connect.ConfigList, Default: connect.NoDefault, Importance: connect.High, Validator: nonEmptyList,
		Doc: "The name of the headers to be removed."}}
}

// Configure reads the header names.
func (t *DropHeaders) Configure(props map[string]string) error {
	p, err := parse("DropHeaders", t.Config(), props)
	if err != nil {
		return err
	}
	t.names = map[string]bool{}
	for _, n := range p.List("headers") {
		t.names[n] = true
	}
	return nil
}

// Apply removes the headers; the input's header list is left as it was.
func (t *DropHeaders) Apply(r connect.Record) (connect.Record, bool, error) {
	r.Headers = slices.DeleteFunc(slices.Clone(r.Headers), func(h connect.Header) bool { return t.names[h.Key] })
	return r, true, nil
}

// SetSchemaMetadata is Kafka's SetSchemaMetadata$Key and $Value: it sets
// the key's or value's schema name and/or version (a struct is rebuilt on
// the new schema).
type SetSchemaMetadata struct {
	side    side
	name    string
	version int32
	hasName bool
	hasVer  bool
	cache   schemaCache
}

// Config declares SetSchemaMetadata's keys.
func (*SetSchemaMetadata) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "schema.name", Type: connect.ConfigString, NullDefault: true, Importance: connect.High, Doc: "Schema name to set."},
		{Name: "schema.version", Type: connect.ConfigInt, NullDefault: true, Importance: connect.High, Doc: "Schema version to set."},
		replaceNullConfig(),
	}
}

// Configure reads the name and version.
func (t *SetSchemaMetadata) Configure(props map[string]string) error {
	name := "SetSchemaMetadata" + t.side.suffix()
	p, err := parse(name, t.Config(), props)
	if err != nil {
		return err
	}
	t.name, t.hasName = p.String("schema.name"), p.IsSet("schema.name")
	t.version, t.hasVer = int32(p.Int("schema.version")), p.IsSet("schema.version")
	t.cache = schemaCache{}
	if !t.hasName && !t.hasVer {
		return fmt.Errorf("%s: Neither schema name nor version configured", name)
	}
	return nil
}

// Apply replaces the schema's metadata.
func (t *SetSchemaMetadata) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if schema == nil {
		return r, false, fmt.Errorf("%w: Schema required for [updating schema metadata]", connect.ErrData)
	}
	ns, _ := t.cache.get(schema, func() (*connect.Schema, error) {
		c := *schema
		if t.hasName {
			c.Name = t.name
		}
		if t.hasVer {
			c.Version = t.version
		}
		return &c, nil
	})
	if st, ok := value.(*connect.Struct); ok && st != nil {
		// The struct must carry the schema the record names, as Kafka's
		// updateSchemaIn rebuilds it.
		value = &connect.Struct{Schema: ns, Values: slices.Clone(st.Values)}
	}
	return t.side.set(r, ns, value), true, nil
}
