package transform

import (
	"fmt"
	"maps"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// SinkTransformation is implemented by a transform that needs what only a
// sink record has (InsertField's offset.field needs the Kafka offset).
// Chain.ApplySink calls it instead of Apply.
type SinkTransformation interface {
	ApplySink(r connect.SinkRecord) (out connect.SinkRecord, keep bool, err error)
}

// insertSpec is a field to insert: "name" or "name?" is optional, "name!"
// required, as Kafka's InsertField parses it.
type insertSpec struct {
	name     string
	optional bool
}

func parseInsertSpec(s string) *insertSpec {
	if s == "" {
		return nil
	}
	if n, ok := strings.CutSuffix(s, "!"); ok {
		return &insertSpec{name: n}
	}
	n, _ := strings.CutSuffix(s, "?")
	return &insertSpec{name: n, optional: true}
}

func (f *insertSpec) schema(base *connect.Schema) *connect.Schema {
	if f.optional {
		return base.OptionalCopy()
	}
	return base
}

// InsertField is Kafka's InsertField$Key and InsertField$Value: it adds
// the record's topic, partition, offset (sink records), timestamp and a
// static string to a struct or map. Tombstones pass through.
type InsertField struct {
	side                                        side
	topic, partition, offset, timestamp, static *insertSpec
	staticValue                                 string
	hasStatic, replaceNull                      bool
	cache                                       schemaCache
}

const insertPurpose = "field insertion"

// Config declares InsertField's keys.
func (*InsertField) Config() connect.ConfigDef {
	str := func(name, doc string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.ConfigString, NullDefault: true, Importance: connect.Medium, Doc: doc}
	}
	suffix := " Suffix with <code>!</code> to make this a required field, or <code>?</code> to keep it optional (the default)."
	return connect.ConfigDef{
		str("topic.field", "Field name for Kafka topic."+suffix),
		str("partition.field", "Field name for Kafka partition."+suffix),
		str("offset.field", "Field name for Kafka offset - only applicable to sink connectors."+suffix),
		str("timestamp.field", "Field name for record timestamp."+suffix),
		str("static.field", "Field name for static data field."+suffix),
		str("static.value", "Static field value, if field name configured."),
		replaceNullConfig(),
	}
}

// Configure reads the field names.
func (t *InsertField) Configure(props map[string]string) error {
	p, err := parse("InsertField"+t.side.suffix(), t.Config(), props)
	if err != nil {
		return err
	}
	t.topic = parseInsertSpec(p.String("topic.field"))
	t.partition = parseInsertSpec(p.String("partition.field"))
	t.offset = parseInsertSpec(p.String("offset.field"))
	t.timestamp = parseInsertSpec(p.String("timestamp.field"))
	t.static = parseInsertSpec(p.String("static.field"))
	t.staticValue, t.hasStatic = p.String("static.value"), p.IsSet("static.value")
	t.replaceNull = p.Bool("replace.null.with.default")
	t.cache = schemaCache{}
	name := "InsertField" + t.side.suffix()
	if t.topic == nil && t.partition == nil && t.offset == nil && t.timestamp == nil && t.static == nil {
		return fmt.Errorf("%s: No field insertion configured", name)
	}
	if t.static != nil && !t.hasStatic {
		return fmt.Errorf("%s: Invalid value null for configuration static.value: No value specified for static field: %s", name, t.static.name)
	}
	return nil
}

// Apply inserts the fields; offset.field fails here, as on Kafka's source
// records: only ApplySink knows the offset.
func (t *InsertField) Apply(r connect.Record) (connect.Record, bool, error) {
	return t.apply(r, nil)
}

// ApplySink is Apply with the sink record's Kafka offset at hand.
func (t *InsertField) ApplySink(r connect.SinkRecord) (connect.SinkRecord, bool, error) {
	off := r.KafkaOffset
	out, keep, err := t.apply(r.Record, &off)
	r.Record = out
	return r, keep, err
}

func (t *InsertField) apply(r connect.Record, offset *int64) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if value == nil {
		return r, true, nil
	}
	if t.offset != nil && offset == nil {
		return r, false, fmt.Errorf("%w: Only SinkRecord supported for [%s], found: source record", connect.ErrData, insertPurpose)
	}
	if schema == nil {
		m, err := requireMap(value, insertPurpose)
		if err != nil {
			return r, false, err
		}
		out := maps.Clone(m)
		if t.topic != nil {
			out[t.topic.name] = r.Topic
		}
		if t.partition != nil && r.Partition != connect.NoPartition {
			out[t.partition.name] = r.Partition
		}
		if t.offset != nil {
			out[t.offset.name] = *offset
		}
		if t.timestamp != nil && !r.Timestamp.IsZero() {
			out[t.timestamp.name] = r.Timestamp.UnixMilli()
		}
		if t.static != nil && t.hasStatic {
			out[t.static.name] = t.staticValue
		}
		return t.side.set(r, nil, out), true, nil
	}
	st, err := requireStruct(value, insertPurpose)
	if err != nil {
		return r, false, err
	}
	ns, err := t.cache.get(st.Schema, func() (*connect.Schema, error) { return t.updatedSchema(st.Schema) })
	if err != nil {
		return r, false, err
	}
	out := connect.NewStruct(ns)
	for _, f := range st.Schema.Fields {
		out.Values[f.Index] = fieldValue(st, f, t.replaceNull)
	}
	put := func(spec *insertSpec, v any) error {
		if err := out.Put(spec.name, v); err != nil {
			return fmt.Errorf("%s: %w", insertPurpose, err)
		}
		return nil
	}
	var errs []error
	if t.topic != nil {
		errs = append(errs, put(t.topic, r.Topic))
	}
	if t.partition != nil && r.Partition != connect.NoPartition {
		errs = append(errs, put(t.partition, r.Partition))
	}
	if t.offset != nil {
		errs = append(errs, put(t.offset, *offset))
	}
	if t.timestamp != nil && !r.Timestamp.IsZero() {
		errs = append(errs, put(t.timestamp, r.Timestamp.UTC()))
	}
	if t.static != nil && t.hasStatic {
		errs = append(errs, put(t.static, t.staticValue))
	}
	for _, e := range errs {
		if e != nil {
			return r, false, e
		}
	}
	if err := out.Validate(); err != nil {
		return r, false, fmt.Errorf("%s: %w", insertPurpose, err)
	}
	return t.side.set(r, ns, out), true, nil
}

func (t *InsertField) updatedSchema(in *connect.Schema) (*connect.Schema, error) {
	s := structBasics(in)
	for _, f := range in.Fields {
		s.Fields = append(s.Fields, connect.Field{Name: f.Name, Index: f.Index, Schema: f.Schema})
	}
	for _, add := range []struct {
		spec *insertSpec
		base *connect.Schema
	}{
		{t.topic, connect.StringSchema}, {t.partition, connect.Int32Schema}, {t.offset, connect.Int64Schema},
		{t.timestamp, connect.TimestampSchema()}, {t.static, connect.StringSchema},
	} {
		if add.spec == nil {
			continue
		}
		if err := addField(s, add.spec.name, add.spec.schema(add.base)); err != nil {
			return nil, err
		}
	}
	return s, nil
}
