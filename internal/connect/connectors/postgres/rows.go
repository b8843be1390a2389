package postgres

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/fjordstream/fjord/internal/connect"
)

// errBadRecord marks a record that cannot be written as it is (no schema,
// a value not matching its schema, a type PostgreSQL has no column for):
// it goes to ReportError, never to a retry.
var errBadRecord = errors.New("postgres sink: bad record")

// column is one column a record writes: its name, the connect schema its
// PostgreSQL type comes from, and whether it is part of the primary key.
type column struct {
	name   string
	schema *connect.Schema
	pk     bool
}

// row is one buffered write: an upsert/insert of vals into cols, or a
// delete by the pk columns' vals.
type row struct {
	table  pgx.Identifier
	cols   []column
	vals   []any
	delete bool
	rec    connect.SinkRecord
}

// pkColumns returns the names of the row's primary-key columns.
func (r *row) pkColumns() []string {
	var out []string
	for _, c := range r.cols {
		if c.pk {
			out = append(out, c.name)
		}
	}
	return out
}

// tableName applies table.name.format to a topic; a '.' separates the
// schema from the table, each part quoted on its own by pgx.Identifier.
func tableName(format, topic string) pgx.Identifier {
	return pgx.Identifier(strings.Split(strings.ReplaceAll(format, "${topic}", topic), "."))
}

// toRow turns a record into a row as the settings say, or an error
// wrapping errBadRecord; nil, nil for a tombstone to skip.
func (s *settings) toRow(r connect.SinkRecord) (*row, error) {
	out := &row{table: tableName(s.tableFormat, r.Topic), rec: r}
	if r.Value == nil {
		if !s.deleteEnabled {
			return nil, nil // Confluent's: tombstones are ignored unless deletes are on
		}
		out.delete = true
		if err := s.keyColumns(out, r); err != nil {
			return nil, err
		}
		return out, nil
	}
	st, ok := r.Value.(*connect.Struct)
	if r.ValueSchema == nil || r.ValueSchema.Type != connect.TypeStruct || !ok {
		return nil, fmt.Errorf("%w: the value must be a Struct with a schema (got %T)", errBadRecord, r.Value)
	}
	if err := connect.Validate(r.ValueSchema, st); err != nil {
		return nil, fmt.Errorf("%w: value: %w", errBadRecord, err)
	}
	switch s.pkMode {
	case PKModeKafka:
		names := s.pkFields
		if len(names) == 0 {
			names = []string{KafkaTopicColumn, KafkaPartitionColumn, KafkaOffsetColumn}
		}
		out.cols = append(out.cols, column{names[0], connect.StringSchema, true}, column{names[1], connect.Int32Schema, true}, column{names[2], connect.Int64Schema, true})
		out.vals = append(out.vals, r.Topic, r.Partition, r.KafkaOffset)
	case PKModeRecordKey:
		if err := s.keyColumns(out, r); err != nil {
			return nil, err
		}
	}
	for i, f := range r.ValueSchema.Fields {
		isPK := s.pkMode == PKModeRecordValue && (len(s.pkFields) == 0 || slices.Contains(s.pkFields, f.Name))
		if slices.ContainsFunc(out.cols, func(c column) bool { return c.name == f.Name }) {
			continue // a key column of the same name wins
		}
		v, err := pgValue(f.Schema, st.Values[i])
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", errBadRecord, f.Name, err)
		}
		out.cols = append(out.cols, column{f.Name, f.Schema, isPK})
		out.vals = append(out.vals, v)
	}
	if s.pkMode == PKModeRecordValue {
		for _, name := range s.pkFields {
			if r.ValueSchema.Field(name) == nil {
				return nil, fmt.Errorf("%w: pk.fields names %q, which the value lacks", errBadRecord, name)
			}
		}
	}
	return out, nil
}

// keyColumns adds the key's primary-key columns (pk.mode=record_key): the
// named (or all) fields of a Struct key, or one column of a primitive key.
func (s *settings) keyColumns(out *row, r connect.SinkRecord) error {
	if r.Key == nil || r.KeySchema == nil {
		return fmt.Errorf("%w: pk.mode=record_key needs a key with a schema", errBadRecord)
	}
	if err := connect.Validate(r.KeySchema, r.Key); err != nil {
		return fmt.Errorf("%w: key: %w", errBadRecord, err)
	}
	if r.KeySchema.Type != connect.TypeStruct {
		name := PrimitiveKeyColumn
		if len(s.pkFields) > 0 {
			name = s.pkFields[0]
		}
		v, err := pgValue(r.KeySchema, r.Key)
		if err != nil {
			return fmt.Errorf("%w: key: %w", errBadRecord, err)
		}
		out.cols, out.vals = append(out.cols, column{name, r.KeySchema, true}), append(out.vals, v)
		return nil
	}
	st := r.Key.(*connect.Struct)
	for _, name := range s.pkFields {
		if r.KeySchema.Field(name) == nil {
			return fmt.Errorf("%w: pk.fields names %q, which the key lacks", errBadRecord, name)
		}
	}
	for i, f := range r.KeySchema.Fields {
		if len(s.pkFields) > 0 && !slices.Contains(s.pkFields, f.Name) {
			continue
		}
		v, err := pgValue(f.Schema, st.Values[i])
		if err != nil {
			return fmt.Errorf("%w: key field %q: %w", errBadRecord, f.Name, err)
		}
		out.cols, out.vals = append(out.cols, column{f.Name, f.Schema, true}), append(out.vals, v)
	}
	return nil
}

// pgType returns the PostgreSQL column type of a connect schema, or an
// error for the types without one (arrays, maps, nested structs).
func pgType(s *connect.Schema) (string, error) {
	switch s.Name {
	case connect.DecimalName:
		return "numeric", nil
	case connect.DateName:
		return "date", nil
	case connect.TimeName:
		return "time", nil
	case connect.TimestampName:
		return "timestamptz", nil
	}
	switch s.Type {
	case connect.TypeInt8, connect.TypeInt16:
		return "smallint", nil
	case connect.TypeInt32:
		return "integer", nil
	case connect.TypeInt64:
		return "bigint", nil
	case connect.TypeFloat32:
		return "real", nil
	case connect.TypeFloat64:
		return "double precision", nil
	case connect.TypeBoolean:
		return "boolean", nil
	case connect.TypeString:
		return "text", nil
	case connect.TypeBytes:
		return "bytea", nil
	}
	return "", fmt.Errorf("no PostgreSQL column type for connect type %s", s.Type)
}

// pgValue converts a validated connect value into what pgx encodes for
// the column pgType gives (nil stays NULL; a missing value takes the
// field's default).
func pgValue(s *connect.Schema, v any) (any, error) {
	if _, err := pgType(s); err != nil {
		return nil, err
	}
	if v == nil {
		v = s.Default
	}
	if v == nil {
		return nil, nil
	}
	switch s.Name {
	case connect.DecimalName:
		r, ok := v.(*big.Rat)
		if !ok {
			return nil, fmt.Errorf("a Decimal must be a *big.Rat, not %T", v)
		}
		scale, _ := strconv.Atoi(s.Parameters[connect.DecimalScaleParameter])
		// Text keeps every digit the scale says; pgx sends it as numeric.
		return r.FloatString(max(scale, 0)), nil
	case connect.TimeName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("a Time must be a time.Time, not %T", v)
		}
		t = t.UTC()
		us := int64(t.Hour())*3600e6 + int64(t.Minute())*60e6 + int64(t.Second())*1e6 + int64(t.Nanosecond()/1e3)
		return pgtype.Time{Microseconds: us, Valid: true}, nil
	case connect.DateName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("a Date must be a time.Time, not %T", v)
		}
		// A Date is a UTC day: pgx would otherwise take the local one.
		u := t.UTC()
		return pgtype.Date{Time: time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC), Valid: true}, nil
	}
	if i8, ok := v.(int8); ok {
		return int16(i8), nil // PostgreSQL has no one-byte integer
	}
	return v, nil
}

// quoteCols returns the columns' names quoted and comma-separated.
func quoteCols(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// writeSQL returns the statement of a row: INSERT, INSERT ... ON CONFLICT
// DO UPDATE (upsert), or DELETE by the primary key.
func (s *settings) writeSQL(r *row) string {
	table := r.table.Sanitize()
	if r.delete {
		conds := make([]string, len(r.cols))
		for i, c := range r.cols {
			conds[i] = fmt.Sprintf("%s = $%d", pgx.Identifier{c.name}.Sanitize(), i+1)
		}
		return "DELETE FROM " + table + " WHERE " + strings.Join(conds, " AND ")
	}
	names := make([]string, len(r.cols))
	params := make([]string, len(r.cols))
	for i, c := range r.cols {
		names[i], params[i] = c.name, "$"+strconv.Itoa(i+1)
	}
	q := "INSERT INTO " + table + " (" + quoteCols(names) + ") VALUES (" + strings.Join(params, ", ") + ")"
	if !s.upsert {
		return q
	}
	var sets []string
	for _, c := range r.cols {
		if !c.pk {
			n := pgx.Identifier{c.name}.Sanitize()
			sets = append(sets, n+" = EXCLUDED."+n)
		}
	}
	q += " ON CONFLICT (" + quoteCols(r.pkColumns()) + ")"
	if len(sets) == 0 {
		return q + " DO NOTHING"
	}
	return q + " DO UPDATE SET " + strings.Join(sets, ", ")
}

// createSQL returns CREATE TABLE IF NOT EXISTS for a row's columns: a
// required field is NOT NULL, the pk columns the PRIMARY KEY.
func createSQL(r *row) (string, error) {
	defs := make([]string, 0, len(r.cols)+1)
	for _, c := range r.cols {
		typ, err := pgType(c.schema)
		if err != nil {
			return "", fmt.Errorf("column %q: %w", c.name, err)
		}
		d := pgx.Identifier{c.name}.Sanitize() + " " + typ
		if !c.schema.Optional || c.pk {
			d += " NOT NULL"
		}
		defs = append(defs, d)
	}
	if pk := r.pkColumns(); len(pk) > 0 {
		defs = append(defs, "PRIMARY KEY ("+quoteCols(pk)+")")
	}
	return "CREATE TABLE IF NOT EXISTS " + r.table.Sanitize() + " (" + strings.Join(defs, ", ") + ")", nil
}

// addColumnSQL returns ALTER TABLE ADD COLUMN IF NOT EXISTS for a column
// the table lacks; only an optional field (or one with a default) may be
// added, as Confluent's auto.evolve: existing rows have no value for it.
func addColumnSQL(table pgx.Identifier, c column) (string, error) {
	if !c.schema.Optional && c.schema.Default == nil {
		return "", fmt.Errorf("cannot add the required column %q to %s: only optional fields or fields with a default can be added", c.name, table.Sanitize())
	}
	typ, err := pgType(c.schema)
	if err != nil {
		return "", fmt.Errorf("column %q: %w", c.name, err)
	}
	return "ALTER TABLE " + table.Sanitize() + " ADD COLUMN IF NOT EXISTS " + pgx.Identifier{c.name}.Sanitize() + " " + typ, nil
}
