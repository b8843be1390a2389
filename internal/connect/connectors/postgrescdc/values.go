package postgrescdc

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// PostgreSQL type OIDs the connector maps to Connect types; every other
// type is emitted as its text form.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// unavailable is Debezium's placeholder for an unchanged TOASTed value
// pgoutput does not resend.
const unavailable = "__debezium_unavailable_value"

// newSourceSchema returns Debezium's io.debezium.connector.postgresql.Source
// (one per table, so the package holds no shared state).
func newSourceSchema() *connect.Schema {
	s := connect.StructSchema(
		connect.Field{Name: "version", Schema: connect.StringSchema},
		connect.Field{Name: "connector", Schema: connect.StringSchema},
		connect.Field{Name: "name", Schema: connect.StringSchema},
		connect.Field{Name: "ts_ms", Schema: connect.Int64Schema},
		connect.Field{Name: "snapshot", Schema: connect.OptionalStringSchema},
		connect.Field{Name: "db", Schema: connect.StringSchema},
		connect.Field{Name: "schema", Schema: connect.StringSchema},
		connect.Field{Name: "table", Schema: connect.StringSchema},
		connect.Field{Name: "txId", Schema: connect.OptionalInt64Schema},
		connect.Field{Name: "lsn", Schema: connect.OptionalInt64Schema},
	)
	s.Name = "io.debezium.connector.postgresql.Source"
	return s
}

// column is one captured column and how its text form becomes a value.
type column struct {
	name   string
	oid    uint32
	typmod int32
	key    bool // part of the primary key (the Kafka key)
	schema *connect.Schema
}

// table is a captured table with the schemas of its events; schemas are
// built once and shared by every record (they are immutable).
type table struct {
	schema, name, topic    string
	cols                   []column
	keySchema, valueSchema *connect.Schema
	source                 *connect.Schema // Debezium's Source block
	envelope               *connect.Schema
	keyIdx                 []int // indexes into cols of the key columns
}

// newTable builds a table's key, row and envelope schemas, Debezium's
// <topic>.Key, <topic>.Value and <topic>.Envelope.
func newTable(prefix, schema, name string, cols []column) *table {
	t := &table{schema: schema, name: name, topic: prefix + "." + schema + "." + name, cols: cols, source: newSourceSchema()}
	var keyFields, valFields []connect.Field
	for i := range t.cols {
		c := &t.cols[i]
		c.schema = columnSchema(c.oid, c.typmod, !c.key)
		valFields = append(valFields, connect.Field{Name: c.name, Schema: c.schema})
		if c.key {
			keyFields = append(keyFields, connect.Field{Name: c.name, Schema: c.schema})
			t.keyIdx = append(t.keyIdx, i)
		}
	}
	if len(keyFields) > 0 {
		t.keySchema = connect.StructSchema(keyFields...)
		t.keySchema.Name = t.topic + ".Key"
	}
	t.valueSchema = connect.StructSchema(valFields...)
	t.valueSchema.Name, t.valueSchema.Optional = t.topic+".Value", true
	t.envelope = connect.StructSchema(
		connect.Field{Name: "before", Schema: t.valueSchema},
		connect.Field{Name: "after", Schema: t.valueSchema},
		connect.Field{Name: "source", Schema: t.source},
		connect.Field{Name: "op", Schema: connect.StringSchema},
		connect.Field{Name: "ts_ms", Schema: connect.OptionalInt64Schema},
	)
	t.envelope.Name, t.envelope.Version = t.topic+".Envelope", 1
	return t
}

// columnSchema maps a PostgreSQL type to its Connect schema.
func columnSchema(oid uint32, typmod int32, optional bool) *connect.Schema {
	var s *connect.Schema
	switch oid {
	case oidBool:
		s = &connect.Schema{Type: connect.TypeBoolean}
	case oidInt2:
		s = &connect.Schema{Type: connect.TypeInt16}
	case oidInt4:
		s = &connect.Schema{Type: connect.TypeInt32}
	case oidInt8, oidOID:
		s = &connect.Schema{Type: connect.TypeInt64}
	case oidFloat4:
		s = &connect.Schema{Type: connect.TypeFloat32}
	case oidFloat8:
		s = &connect.Schema{Type: connect.TypeFloat64}
	case oidNumeric:
		if scale, ok := numericScale(typmod); ok {
			s = connect.DecimalSchema(scale)
		} else {
			s = &connect.Schema{Type: connect.TypeString}
		}
	case oidBytea:
		s = &connect.Schema{Type: connect.TypeBytes}
	case oidDate:
		s = connect.DateSchema()
	case oidTime:
		s = connect.TimeSchema()
	case oidTimestamp, oidTimestamptz:
		s = connect.TimestampSchema()
	default: // text, varchar, char, name, uuid, json, jsonb and the rest: text form
		s = &connect.Schema{Type: connect.TypeString}
	}
	s.Optional = optional
	return s
}

// numericScale is numeric(p,s)'s scale; an unconstrained numeric has no
// fixed scale, which a Connect Decimal needs, so it is emitted as text.
func numericScale(typmod int32) (int, bool) {
	if typmod < 4 {
		return 0, false
	}
	return int((typmod - 4) & 0xffff), true
}

// decode turns a column's text form (pgoutput protocol v1 and the
// snapshot query both send text) into its Connect value; nil for SQL NULL
// and for values the type cannot hold (NaN numerics, infinite dates).
func decode(c *column, text []byte) (any, error) {
	if text == nil {
		return nil, nil
	}
	s := string(text)
	v, err := decodeText(c, s)
	if err != nil {
		return nil, fmt.Errorf("column %s (type oid %d) value %q: %w", c.name, c.oid, s, err)
	}
	return v, nil
}

func decodeText(c *column, s string) (any, error) {
	switch c.oid {
	case oidBool:
		return s == "t" || s == "true", nil
	case oidInt2:
		n, err := strconv.ParseInt(s, 10, 16)
		return int16(n), err
	case oidInt4:
		n, err := strconv.ParseInt(s, 10, 32)
		return int32(n), err
	case oidInt8, oidOID:
		return strconv.ParseInt(s, 10, 64)
	case oidFloat4:
		f, err := strconv.ParseFloat(s, 32)
		return float32(f), err
	case oidFloat8:
		return strconv.ParseFloat(s, 64)
	case oidNumeric:
		if c.schema.Name != connect.DecimalName {
			return s, nil
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, nil // NaN, ±Infinity: no Decimal holds them
		}
		return r, nil
	case oidBytea:
		if !strings.HasPrefix(s, `\x`) {
			return nil, fmt.Errorf("bytea not in hex output format")
		}
		return hex.DecodeString(s[2:])
	case oidDate:
		if strings.HasSuffix(s, "infinity") {
			return nil, nil
		}
		return time.Parse("2006-01-02", s)
	case oidTime:
		t, err := time.Parse("15:04:05.999999", s)
		if err != nil {
			return nil, err
		}
		return time.Date(1970, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
	case oidTimestamp, oidTimestamptz:
		if strings.HasSuffix(s, "infinity") {
			return nil, nil
		}
		return parseTimestamp(s)
	}
	return s, nil
}

// parseTimestamp reads DateStyle ISO output (the connections set it), a
// timestamptz with its offset ("+00", "+05:30", "+05:30:15").
func parseTimestamp(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05.999999Z07", "2006-01-02 15:04:05.999999Z07:00", "2006-01-02 15:04:05.999999Z07:00:00"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// row builds a row struct from a tuple's text values (nil: NULL);
// unchanged TOAST values are Debezium's placeholder where the type is
// text and NULL otherwise.
func (t *table) row(vals [][]byte, toast []bool) (*connect.Struct, error) {
	st := connect.NewStruct(t.valueSchema)
	for i := range t.cols {
		if i >= len(vals) {
			break
		}
		if toast != nil && toast[i] {
			if t.cols[i].schema.Type == connect.TypeString {
				st.Values[i] = unavailable
			}
			continue
		}
		v, err := decode(&t.cols[i], vals[i])
		if err != nil {
			return nil, fmt.Errorf("table %s.%s: %w", t.schema, t.name, err)
		}
		st.Values[i] = v
	}
	return st, nil
}

// key builds the key struct from a row (nil when the table has no primary
// key, as Debezium emits).
func (t *table) key(row *connect.Struct) *connect.Struct {
	if t.keySchema == nil || row == nil {
		return nil
	}
	k := connect.NewStruct(t.keySchema)
	for j, i := range t.keyIdx {
		k.Values[j] = row.Values[i]
	}
	return k
}

// sourceInfo is what a change event's source block says.
type sourceInfo struct {
	db       string
	prefix   string
	ts       time.Time
	snapshot string // "true", "last" or "" (streamed)
	txID     int64
	lsn      int64
}

// event builds one change event record of t.
func (t *table) event(op string, before, after *connect.Struct, si sourceInfo, offset map[string]any, partition map[string]any) connect.SourceRecord {
	src := connect.NewStruct(t.source)
	src.Values = []any{Version, "postgresql", si.prefix, si.ts.UnixMilli(), nil, si.db, t.schema, t.name, nil, nil}
	if si.snapshot != "" {
		src.Values[4] = si.snapshot
	} else {
		src.Values[4] = "false"
	}
	if si.txID != 0 {
		src.Values[8] = si.txID
	}
	if si.lsn != 0 {
		src.Values[9] = si.lsn
	}
	env := connect.NewStruct(t.envelope)
	env.Values = []any{orNil(before), orNil(after), src, op, time.Now().UnixMilli()}
	keyRow := after
	if keyRow == nil {
		keyRow = before
	}
	rec := connect.SourceRecord{SourcePartition: partition, SourceOffset: offset}
	rec.Topic, rec.Partition = t.topic, connect.NoPartition
	rec.ValueSchema, rec.Value = t.envelope, env
	if k := t.key(keyRow); k != nil {
		rec.KeySchema, rec.Key = t.keySchema, k
	}
	return rec
}

// orNil keeps a missing row an untyped nil: a typed nil pointer in an
// interface is not null to Validate and the converters.
func orNil(s *connect.Struct) any {
	if s == nil {
		return nil
	}
	return s
}

// tombstone is the record following a delete: the key, a null value.
func tombstone(del connect.SourceRecord, offset map[string]any) connect.SourceRecord {
	rec := connect.SourceRecord{SourcePartition: del.SourcePartition, SourceOffset: offset}
	rec.Topic, rec.Partition = del.Topic, connect.NoPartition
	rec.KeySchema, rec.Key = del.KeySchema, del.Key
	return rec
}
