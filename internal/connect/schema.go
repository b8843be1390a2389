package connect

import (
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Type is a schema's type, Kafka Connect's Schema.Type.
type Type string

// Kafka Connect's schema types.
const (
	TypeInt8    Type = "int8"
	TypeInt16   Type = "int16"
	TypeInt32   Type = "int32"
	TypeInt64   Type = "int64"
	TypeFloat32 Type = "float32"
	TypeFloat64 Type = "float64"
	TypeBoolean Type = "boolean"
	TypeString  Type = "string"
	TypeBytes   Type = "bytes"
	TypeArray   Type = "array"
	TypeMap     Type = "map"
	TypeStruct  Type = "struct"
)

// Names of Kafka Connect's logical types: a schema of the underlying type
// with this name (Schema.Name) carries a time.Time or, for Decimal, a
// *big.Rat scaled by the "scale" parameter.
const (
	DecimalName   = "org.apache.kafka.connect.data.Decimal"
	DateName      = "org.apache.kafka.connect.data.Date"
	TimeName      = "org.apache.kafka.connect.data.Time"
	TimestampName = "org.apache.kafka.connect.data.Timestamp"
	// DecimalScaleParameter is the parameter holding a Decimal's scale.
	DecimalScaleParameter = "scale"
)

// Schema describes a value, as Kafka Connect's Schema does. Build one with
// the constructors and methods below; never change a schema once records
// use it.
type Schema struct {
	Type       Type
	Optional   bool
	Default    any
	Name       string
	Version    int32 // 0: none
	Doc        string
	Parameters map[string]string
	// Fields of a struct, in order.
	Fields []Field
	// KeySchema and ValueSchema of a map; ValueSchema is an array's
	// element schema.
	KeySchema, ValueSchema *Schema
}

// Field is one field of a struct schema.
type Field struct {
	Name   string
	Index  int
	Schema *Schema
}

// Common schemas, as Kafka Connect's Schema.*_SCHEMA constants.
var (
	Int8Schema            = &Schema{Type: TypeInt8}
	Int16Schema           = &Schema{Type: TypeInt16}
	Int32Schema           = &Schema{Type: TypeInt32}
	Int64Schema           = &Schema{Type: TypeInt64}
	Float32Schema         = &Schema{Type: TypeFloat32}
	Float64Schema         = &Schema{Type: TypeFloat64}
	BooleanSchema         = &Schema{Type: TypeBoolean}
	StringSchema          = &Schema{Type: TypeString}
	BytesSchema           = &Schema{Type: TypeBytes}
	OptionalInt8Schema    = &Schema{Type: TypeInt8, Optional: true}
	OptionalInt16Schema   = &Schema{Type: TypeInt16, Optional: true}
	OptionalInt32Schema   = &Schema{Type: TypeInt32, Optional: true}
	OptionalInt64Schema   = &Schema{Type: TypeInt64, Optional: true}
	OptionalFloat32Schema = &Schema{Type: TypeFloat32, Optional: true}
	OptionalFloat64Schema = &Schema{Type: TypeFloat64, Optional: true}
	OptionalBooleanSchema = &Schema{Type: TypeBoolean, Optional: true}
	OptionalStringSchema  = &Schema{Type: TypeString, Optional: true}
	OptionalBytesSchema   = &Schema{Type: TypeBytes, Optional: true}
)

// StructSchema returns a struct schema of fields (name, schema pairs in
// order); set Name, Optional and the rest on the result before use.
func StructSchema(fields ...Field) *Schema {
	s := &Schema{Type: TypeStruct, Fields: make([]Field, len(fields))}
	for i, f := range fields {
		f.Index = i
		s.Fields[i] = f
	}
	return s
}

// ArraySchema returns an array schema of elem.
func ArraySchema(elem *Schema) *Schema { return &Schema{Type: TypeArray, ValueSchema: elem} }

// MapSchema returns a map schema.
func MapSchema(key, value *Schema) *Schema {
	return &Schema{Type: TypeMap, KeySchema: key, ValueSchema: value}
}

// DecimalSchema returns Kafka Connect's Decimal logical schema of scale.
func DecimalSchema(scale int) *Schema {
	return &Schema{Type: TypeBytes, Name: DecimalName, Version: 1, Parameters: map[string]string{DecimalScaleParameter: fmt.Sprint(scale)}}
}

// DateSchema, TimeSchema and TimestampSchema return Kafka Connect's
// logical schemas of a time.Time (days since the epoch as int32,
// milliseconds of the day as int32, milliseconds since the epoch as
// int64).
func DateSchema() *Schema      { return &Schema{Type: TypeInt32, Name: DateName, Version: 1} }
func TimeSchema() *Schema      { return &Schema{Type: TypeInt32, Name: TimeName, Version: 1} }
func TimestampSchema() *Schema { return &Schema{Type: TypeInt64, Name: TimestampName, Version: 1} }

// Field returns the struct schema's field named name, or nil.
func (s *Schema) Field(name string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// OptionalCopy returns a copy of s marked optional (s itself when it is).
func (s *Schema) OptionalCopy() *Schema {
	if s == nil || s.Optional {
		return s
	}
	c := *s
	c.Optional = true
	return &c
}

// Errors of the data model, as Kafka Connect's DataException.
var (
	// ErrData: a value does not match its schema, or cannot be converted.
	ErrData = errors.New("connect: data error")
)

// Validate checks that value matches schema (Kafka Connect's
// ConnectSchema.validateValue): nil only where the schema is optional or
// has a default, the Go type its Type expects, struct values of the same
// schema, and so on, recursively.
func Validate(schema *Schema, value any) error {
	if schema == nil {
		return nil // schemaless
	}
	if value == nil {
		if schema.Optional || schema.Default != nil {
			return nil
		}
		return fmt.Errorf("%w: null value for a required %s field", ErrData, schema.Type)
	}
	switch schema.Name {
	case DecimalName:
		if _, ok := value.(*big.Rat); !ok {
			return typeErr(schema, value)
		}
		return nil
	case DateName, TimeName, TimestampName:
		if _, ok := value.(time.Time); !ok {
			return typeErr(schema, value)
		}
		return nil
	}
	ok := false
	switch schema.Type {
	case TypeInt8:
		_, ok = value.(int8)
	case TypeInt16:
		_, ok = value.(int16)
	case TypeInt32:
		_, ok = value.(int32)
	case TypeInt64:
		_, ok = value.(int64)
	case TypeFloat32:
		_, ok = value.(float32)
	case TypeFloat64:
		_, ok = value.(float64)
	case TypeBoolean:
		_, ok = value.(bool)
	case TypeString:
		_, ok = value.(string)
	case TypeBytes:
		_, ok = value.([]byte)
	case TypeArray:
		var a []any
		if a, ok = value.([]any); ok {
			for _, e := range a {
				if err := Validate(schema.ValueSchema, e); err != nil {
					return err
				}
			}
		}
	case TypeMap:
		var m map[any]any
		if m, ok = value.(map[any]any); ok {
			for k, v := range m {
				if err := Validate(schema.KeySchema, k); err != nil {
					return err
				}
				if err := Validate(schema.ValueSchema, v); err != nil {
					return err
				}
			}
		}
	case TypeStruct:
		var st *Struct
		if st, ok = value.(*Struct); ok {
			if st.Schema != schema && !SchemasEqual(st.Schema, schema) {
				return fmt.Errorf("%w: struct schema does not match", ErrData)
			}
			return st.Validate()
		}
	default:
		return fmt.Errorf("%w: unknown schema type %q", ErrData, schema.Type)
	}
	if !ok {
		return typeErr(schema, value)
	}
	return nil
}

func typeErr(schema *Schema, value any) error {
	name := string(schema.Type)
	if schema.Name != "" {
		name = schema.Name
	}
	return fmt.Errorf("%w: invalid Go type %T for a field of type %s", ErrData, value, name)
}

// SchemasEqual reports whether two schemas are the same in every part.
func SchemasEqual(a, b *Schema) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	if a.Type != b.Type || a.Optional != b.Optional || a.Name != b.Name || a.Version != b.Version || a.Doc != b.Doc ||
		fmt.Sprint(a.Default) != fmt.Sprint(b.Default) || len(a.Parameters) != len(b.Parameters) || len(a.Fields) != len(b.Fields) {
		return false
	}
	for k, v := range a.Parameters {
		if b.Parameters[k] != v {
			return false
		}
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || !SchemasEqual(a.Fields[i].Schema, b.Fields[i].Schema) {
			return false
		}
	}
	return SchemasEqual(a.KeySchema, b.KeySchema) && SchemasEqual(a.ValueSchema, b.ValueSchema)
}

// Struct is a structured value of a struct schema, Kafka Connect's Struct:
// one value per field, by the field's index.
type Struct struct {
	Schema *Schema
	Values []any
}

// NewStruct returns an empty struct of schema.
func NewStruct(schema *Schema) *Struct {
	return &Struct{Schema: schema, Values: make([]any, len(schema.Fields))}
}

// Put sets a field's value; it fails on a field the schema lacks or a
// value of the wrong type.
func (s *Struct) Put(name string, value any) error {
	f := s.Schema.Field(name)
	if f == nil {
		return fmt.Errorf("%w: %q is not a field of the struct", ErrData, name)
	}
	if err := Validate(f.Schema, value); err != nil {
		return fmt.Errorf("field %q: %w", name, err)
	}
	s.Values[f.Index] = value
	return nil
}

// Get returns a field's value (its default when unset), or nil for a
// field the schema lacks.
func (s *Struct) Get(name string) any {
	f := s.Schema.Field(name)
	if f == nil {
		return nil
	}
	if v := s.Values[f.Index]; v != nil {
		return v
	}
	return f.Schema.Default
}

// Validate checks every field against its schema.
func (s *Struct) Validate() error {
	if len(s.Values) != len(s.Schema.Fields) {
		return fmt.Errorf("%w: struct has %d values for %d fields", ErrData, len(s.Values), len(s.Schema.Fields))
	}
	for i, f := range s.Schema.Fields {
		if err := Validate(f.Schema, s.Values[i]); err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	return nil
}
