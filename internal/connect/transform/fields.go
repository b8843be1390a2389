package transform

import (
	"fmt"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// ReplaceField is Kafka's ReplaceField$Key and ReplaceField$Value: it
// keeps the fields of include (all when empty) not in exclude, renamed by
// renames ("old:new,..."). Kafka's older names whitelist and blacklist are
// read when include and exclude are not given. Tombstones pass through.
type ReplaceField struct {
	side             side
	include, exclude map[string]bool
	renames, reverse map[string]string
	replaceNull      bool
	cache            schemaCache
}

const replacePurpose = "field replacement"

// Config declares ReplaceField's keys (the deprecated whitelist and
// blacklist too).
func (*ReplaceField) Config() connect.ConfigDef {
	list := func(name, doc string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.ConfigList, Default: "", Importance: connect.Medium, Doc: doc}
	}
	renames := list("renames", "Field rename mappings.")
	renames.Validator = func(v any) error {
		for _, m := range v.([]string) {
			if parts := strings.Split(m, ":"); len(parts) != 2 || parts[0] == "" || parts[1] == "" {
				return fmt.Errorf("Invalid rename mapping: %s", m)
			}
		}
		return nil
	}
	return connect.ConfigDef{
		list("exclude", "Fields to exclude. This takes precedence over the fields to include."),
		list("include", "Fields to include. If specified, only these fields will be used."),
		renames,
		list("blacklist", "Deprecated. Use exclude instead."),
		list("whitelist", "Deprecated. Use include instead."),
		replaceNullConfig(),
	}
}

// Configure reads the field lists and renames.
func (t *ReplaceField) Configure(props map[string]string) error {
	p, err := parse("ReplaceField"+t.side.suffix(), t.Config(), props)
	if err != nil {
		return err
	}
	set := func(newer, older string) map[string]bool {
		l := p.List(newer)
		if !p.IsSet(newer) && p.IsSet(older) {
			l = p.List(older)
		}
		m := map[string]bool{}
		for _, f := range l {
			m[f] = true
		}
		return m
	}
	t.include, t.exclude = set("include", "whitelist"), set("exclude", "blacklist")
	t.renames, t.reverse = map[string]string{}, map[string]string{}
	for _, m := range p.List("renames") {
		from, to, _ := strings.Cut(m, ":")
		t.renames[from], t.reverse[to] = to, from
	}
	t.replaceNull = p.Bool("replace.null.with.default")
	t.cache = schemaCache{}
	return nil
}

func (t *ReplaceField) keep(name string) bool {
	return !t.exclude[name] && (len(t.include) == 0 || t.include[name])
}

func (t *ReplaceField) renamed(name string) string {
	if n, ok := t.renames[name]; ok {
		return n
	}
	return name
}

// Apply replaces the fields.
func (t *ReplaceField) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if value == nil {
		return r, true, nil
	}
	if schema == nil {
		m, err := requireMap(value, replacePurpose)
		if err != nil {
			return r, false, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			if t.keep(k) {
				out[t.renamed(k)] = v
			}
		}
		return t.side.set(r, nil, out), true, nil
	}
	st, err := requireStruct(value, replacePurpose)
	if err != nil {
		return r, false, err
	}
	ns, err := t.cache.get(st.Schema, func() (*connect.Schema, error) {
		s := structBasics(st.Schema)
		for _, f := range st.Schema.Fields {
			if t.keep(f.Name) {
				if err := addField(s, t.renamed(f.Name), f.Schema); err != nil {
					return nil, err
				}
			}
		}
		return s, nil
	})
	if err != nil {
		return r, false, err
	}
	out := connect.NewStruct(ns)
	for i, f := range ns.Fields {
		orig := f.Name
		if o, ok := t.reverse[f.Name]; ok {
			orig = o
		}
		of := st.Schema.Field(orig)
		out.Values[i] = fieldValue(st, *of, t.replaceNull)
	}
	return t.side.set(r, ns, out), true, nil
}

// ValueToKey is Kafka's ValueToKey: the key becomes a struct (or map) of
// the given fields of the value.
type ValueToKey struct {
	fields      []string
	replaceNull bool
	cache       schemaCache
}

const valueToKeyPurpose = "copying fields from value to key"

// Config declares ValueToKey's keys.
func (*ValueToKey) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "fields", Type: connect.ConfigList, Default: connect.NoDefault, Importance: connect.High, Validator: nonEmptyList,
			Doc: "Field names on the record value to extract as the record key."},
		replaceNullConfig(),
	}
}

func nonEmptyList(v any) error {
	if len(v.([]string)) == 0 {
		return fmt.Errorf("empty list")
	}
	return nil
}

// Configure reads the fields.
func (t *ValueToKey) Configure(props map[string]string) error {
	p, err := parse("ValueToKey", t.Config(), props)
	if err != nil {
		return err
	}
	t.fields, t.replaceNull, t.cache = p.List("fields"), p.Bool("replace.null.with.default"), schemaCache{}
	return nil
}

// Apply builds the key from the value.
func (t *ValueToKey) Apply(r connect.Record) (connect.Record, bool, error) {
	if r.ValueSchema == nil {
		m, err := requireMap(r.Value, valueToKeyPurpose)
		if err != nil {
			return r, false, err
		}
		key := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			key[f] = m[f]
		}
		r.KeySchema, r.Key = nil, key
		return r, true, nil
	}
	st, err := requireStruct(r.Value, valueToKeyPurpose)
	if err != nil {
		return r, false, err
	}
	ks, err := t.cache.get(st.Schema, func() (*connect.Schema, error) {
		s := &connect.Schema{Type: connect.TypeStruct}
		for _, name := range t.fields {
			f := st.Schema.Field(name)
			if f == nil {
				return nil, fmt.Errorf("%w: Field does not exist: %s", connect.ErrData, name)
			}
			if err := addField(s, name, f.Schema); err != nil {
				return nil, err
			}
		}
		return s, nil
	})
	if err != nil {
		return r, false, err
	}
	key := connect.NewStruct(ks)
	for i, name := range t.fields {
		key.Values[i] = fieldValue(st, *st.Schema.Field(name), t.replaceNull)
	}
	r.KeySchema, r.Key = ks, key
	return r, true, nil
}

// HoistField is Kafka's HoistField$Key and HoistField$Value: it wraps the
// key or value in a struct (or map) of one field.
type HoistField struct {
	side  side
	field string
	cache schemaCache
}

// Config declares HoistField's keys.
func (*HoistField) Config() connect.ConfigDef {
	return connect.ConfigDef{{Name: "field", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.Medium,
		Doc: "Field name for the single field that will be created in the resulting Struct or Map."}}
}

// Configure reads the field name.
func (t *HoistField) Configure(props map[string]string) error {
	p, err := parse("HoistField"+t.side.suffix(), t.Config(), props)
	if err != nil {
		return err
	}
	t.field, t.cache = p.String("field"), schemaCache{}
	return nil
}

// Apply wraps the part.
func (t *HoistField) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if schema == nil {
		return t.side.set(r, nil, map[string]any{t.field: value}), true, nil
	}
	ns, _ := t.cache.get(schema, func() (*connect.Schema, error) {
		return connect.StructSchema(connect.Field{Name: t.field, Schema: schema}), nil
	})
	if value == nil && !schema.Optional && schema.Default == nil {
		return r, false, fmt.Errorf("%w: Invalid value: null used for required field: %q, schema type: %s", connect.ErrData, t.field, strings.ToUpper(string(schema.Type)))
	}
	out := connect.NewStruct(ns)
	out.Values[0] = value
	return t.side.set(r, ns, out), true, nil
}

// ExtractField is Kafka's ExtractField$Key and ExtractField$Value: the key
// or value becomes one of its fields. With field.syntax.version V2 the
// field may be a dotted path into nested structs or maps (KIP-821).
type ExtractField struct {
	side        side
	path        []string
	field       string
	replaceNull bool
}

const extractPurpose = "field extraction"

// Config declares ExtractField's keys.
func (*ExtractField) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "field", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.Medium,
			Doc: "Field name to extract."},
		{Name: "field.syntax.version", Type: connect.ConfigString, Default: "V1", Importance: connect.High, Recommended: []string{"V1", "V2"}, Validator: connect.OneOf("V1", "V2"),
			Doc: "Defines the version of the syntax to access fields. If set to `V1`, then the field paths are limited to access the elements at the root level of the struct or map. If set to `V2`, the syntax will support accessing nested elements. To access nested elements, dotted notation is used. If dots are already included in the field name, then backtick pairs can be used to wrap field names containing dots. E.g. to access the subfield `baz` from a field named \"foo.bar\" in a struct/map the following format can be used to access its elements: \"`foo.bar`.baz\"."},
		replaceNullConfig(),
	}
}

// Configure reads the field (path).
func (t *ExtractField) Configure(props map[string]string) error {
	p, err := parse("ExtractField"+t.side.suffix(), t.Config(), props)
	if err != nil {
		return err
	}
	t.field, t.replaceNull = p.String("field"), p.Bool("replace.null.with.default")
	t.path = []string{t.field}
	if strings.EqualFold(p.String("field.syntax.version"), "V2") {
		if t.path, err = parsePath(t.field); err != nil {
			return fmt.Errorf("ExtractField%s: Invalid value %s for configuration field: %w", t.side.suffix(), t.field, err)
		}
	}
	return nil
}

// Apply extracts the field.
func (t *ExtractField) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if schema == nil {
		if value == nil {
			return t.side.set(r, nil, nil), true, nil
		}
		m, err := requireMap(value, extractPurpose)
		if err != nil {
			return r, false, err
		}
		var v any = m
		for i, seg := range t.path {
			if i > 0 {
				if v == nil {
					break
				}
				if _, ok := v.(map[string]any); !ok {
					return r, false, fmt.Errorf("%w: Only Map objects supported in absence of schema for [nested field access], found: %s", connect.ErrData, typeName(v))
				}
			}
			v = v.(map[string]any)[seg]
		}
		return t.side.set(r, nil, v), true, nil
	}
	if value != nil {
		if _, err := requireStruct(value, extractPurpose); err != nil {
			return r, false, err
		}
	}
	fs := schema
	for _, seg := range t.path {
		var f *connect.Field
		if fs.Type == connect.TypeStruct {
			f = fs.Field(seg)
		}
		if f == nil {
			return r, false, fmt.Errorf("%w: Unknown field: %s", connect.ErrData, t.field)
		}
		fs = f.Schema
	}
	var v any
	if value != nil {
		v = value
		for _, seg := range t.path {
			st, ok := v.(*connect.Struct)
			if !ok {
				v = nil
				break
			}
			v = fieldValue(st, *st.Schema.Field(seg), t.replaceNull)
		}
	}
	return t.side.set(r, fs, v), true, nil
}

// parsePath splits a V2 field path (KIP-821) as Kafka's SingleFieldPath
// does: steps are separated by dots; a step starting with a backtick runs
// to the next backtick followed by a dot (or ending the path), so it may
// hold dots; a backslash before such a backtick keeps it in the name; a
// trailing dot adds an empty last step.
func parsePath(path string) ([]string, error) {
	incomplete := func(at int) error {
		return fmt.Errorf("Incomplete backtick pair in path: [%s], consider adding a backslash before backtick at position %d to escape it", path, at)
	}
	var steps []string
	for i := 0; i < len(path); {
		if path[i] != '`' {
			dot := strings.IndexByte(path[i:], '.')
			if dot < 0 {
				steps = append(steps, path[i:])
				break
			}
			steps = append(steps, path[i:i+dot])
			i += dot + 1
			continue
		}
		open := i
		i++
		start := i
		var field strings.Builder
		for {
			j := strings.IndexByte(path[i:], '`')
			if j < 0 {
				return nil, incomplete(open)
			}
			i += j
			escaped := path[i-1] == '\\'
			if i == len(path)-1 {
				if escaped {
					return nil, incomplete(open)
				}
				field.WriteString(path[start:i])
				steps = append(steps, field.String())
				i++
				break
			}
			if path[i+1] != '.' {
				i++ // a backtick inside the name
				continue
			}
			if escaped {
				field.WriteString(path[start : i-1])
				field.WriteByte('`')
				i++
				start = i
				continue
			}
			field.WriteString(path[start:i])
			steps = append(steps, field.String())
			i += 2
			break
		}
	}
	if strings.HasSuffix(path, ".") {
		steps = append(steps, "")
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("empty field path")
	}
	return steps, nil
}
