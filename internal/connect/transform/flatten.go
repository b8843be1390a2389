package transform

import (
	"fmt"

	"github.com/fjordstream/fjord/internal/connect"
)

// Flatten is Kafka's Flatten$Key and Flatten$Value: nested structs (or, in
// schemaless values, nested maps) become top-level fields named by their
// path joined with delimiter. Arrays and maps of a schema'd value are kept
// whole. Tombstones pass through.
type Flatten struct {
	side      side
	delimiter string
	cache     schemaCache
}

const flattenPurpose = "flattening"

// Config declares Flatten's keys.
func (*Flatten) Config() connect.ConfigDef {
	return connect.ConfigDef{{Name: "delimiter", Type: connect.ConfigString, Default: ".", Importance: connect.Medium,
		Doc: "Delimiter to insert between field names from the input record when generating field names for the output record"}}
}

// Configure reads the delimiter.
func (t *Flatten) Configure(props map[string]string) error {
	p, err := parse("Flatten"+t.side.suffix(), t.Config(), props)
	if err != nil {
		return err
	}
	// Trimmed, as Kafka's ConfigDef trims every STRING value.
	t.delimiter = p.String("delimiter")
	t.cache = schemaCache{}
	return nil
}

func (t *Flatten) name(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + t.delimiter + field
}

// Apply flattens the key or value.
func (t *Flatten) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if value == nil {
		return r, true, nil
	}
	if schema == nil {
		m, err := requireMap(value, flattenPurpose)
		if err != nil {
			return r, false, err
		}
		out := map[string]any{}
		if err := t.flattenMap(out, "", m); err != nil {
			return r, false, err
		}
		return t.side.set(r, nil, out), true, nil
	}
	st, err := requireStruct(value, flattenPurpose)
	if err != nil {
		return r, false, err
	}
	ns, err := t.cache.get(st.Schema, func() (*connect.Schema, error) {
		s := structBasics(st.Schema)
		if err := t.flattenSchema(s, "", st.Schema, false); err != nil {
			return nil, err
		}
		return s, nil
	})
	if err != nil {
		return r, false, err
	}
	out := connect.NewStruct(ns)
	t.flattenStruct(out, "", st)
	return t.side.set(r, ns, out), true, nil
}

func (t *Flatten) flattenMap(out map[string]any, prefix string, m map[string]any) error {
	for k, v := range m {
		name := t.name(prefix, k)
		switch x := v.(type) {
		case map[string]any:
			if err := t.flattenMap(out, name, x); err != nil {
				return err
			}
		case *connect.Struct:
			return fmt.Errorf("%w: Flatten transformation does not support STRUCT for record without schemas (for field %s).", connect.ErrData, name)
		default:
			out[name] = v
		}
	}
	return nil
}

// flattenSchema adds the fields of in to out; fields under an optional
// struct become optional, since the whole struct may be missing.
func (t *Flatten) flattenSchema(out *connect.Schema, prefix string, in *connect.Schema, optional bool) error {
	for _, f := range in.Fields {
		name := t.name(prefix, f.Name)
		if f.Schema.Type == connect.TypeStruct {
			if err := t.flattenSchema(out, name, f.Schema, optional || f.Schema.Optional); err != nil {
				return err
			}
			continue
		}
		fs := f.Schema
		if optional && !fs.Optional {
			fs = &connect.Schema{Type: fs.Type, Optional: true, Name: fs.Name, Version: fs.Version, Doc: fs.Doc,
				Parameters: fs.Parameters, Fields: fs.Fields, KeySchema: fs.KeySchema, ValueSchema: fs.ValueSchema}
		}
		if err := addField(out, name, fs); err != nil {
			return fmt.Errorf("%s: %w", flattenPurpose, err)
		}
	}
	return nil
}

func (t *Flatten) flattenStruct(out *connect.Struct, prefix string, st *connect.Struct) {
	for i, f := range st.Schema.Fields {
		name := t.name(prefix, f.Name)
		if f.Schema.Type == connect.TypeStruct {
			if nested, ok := st.Values[i].(*connect.Struct); ok && nested != nil {
				t.flattenStruct(out, name, nested)
			}
			continue // a null struct leaves its (optional) fields null
		}
		out.Values[out.Schema.Field(name).Index] = st.Values[i]
	}
}

// NewFlatten returns an unconfigured Flatten$Key or $Value.
func NewFlatten(key bool) *Flatten { return &Flatten{side: side(key)} }
