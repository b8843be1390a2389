package convert

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/fjordstream/fjord/internal/connect"
)

// The JSON names of schema types where they differ from connect.Type
// (Kafka's JsonSchema names float32 and float64 "float" and "double").
var jsonTypeNames = map[connect.Type]string{connect.TypeFloat32: "float", connect.TypeFloat64: "double"}

func jsonTypeName(t connect.Type) string {
	if n, ok := jsonTypeNames[t]; ok {
		return n
	}
	return string(t)
}

func typeFromJSON(name string) (connect.Type, bool) {
	switch name {
	case "float":
		return connect.TypeFloat32, true
	case "double":
		return connect.TypeFloat64, true
	case "boolean", "int8", "int16", "int32", "int64", "string", "bytes", "array", "map", "struct":
		return connect.Type(name), true
	}
	return "", false
}

// appendSchema writes s as Kafka's JsonConverter.asJsonSchema does, keys
// in its order: type, fields/items/keys+values, optional, name, version,
// doc, parameters, default. Jackson keeps insertion order, so byte-equal
// output needs the same order.
func (c *JSONConverter) appendSchema(b []byte, s *connect.Schema) ([]byte, error) {
	return c.appendSchemaField(b, s, "")
}

func (c *JSONConverter) appendSchemaField(b []byte, s *connect.Schema, field string) ([]byte, error) {
	var err error
	b = append(b, `{"type":`...)
	b = appendString(b, jsonTypeName(s.Type))
	switch s.Type {
	case connect.TypeStruct:
		b = append(b, `,"fields":[`...)
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = c.appendSchemaField(b, f.Schema, f.Name); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		b = append(b, ']')
	case connect.TypeArray:
		if s.ValueSchema == nil {
			return nil, fmt.Errorf("%w: array schema without an element schema", connect.ErrData)
		}
		b = append(b, `,"items":`...)
		if b, err = c.appendSchema(b, s.ValueSchema); err != nil {
			return nil, err
		}
	case connect.TypeMap:
		if s.KeySchema == nil || s.ValueSchema == nil {
			return nil, fmt.Errorf("%w: map schema without a key or value schema", connect.ErrData)
		}
		b = append(b, `,"keys":`...)
		if b, err = c.appendSchema(b, s.KeySchema); err != nil {
			return nil, err
		}
		b = append(b, `,"values":`...)
		if b, err = c.appendSchema(b, s.ValueSchema); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"optional":`...)
	b = strconv.AppendBool(b, s.Optional)
	if s.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, s.Name)
	}
	if s.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(s.Version), 10)
	}
	if s.Doc != "" {
		b = append(b, `,"doc":`...)
		b = appendString(b, s.Doc)
	}
	if s.Parameters != nil {
		b = append(b, `,"parameters":{`...)
		// Kafka keeps parameters in insertion order; Go maps have none,
		// so sorted order keeps the output stable.
		keys := make([]string, 0, len(s.Parameters))
		for k := range s.Parameters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, s.Parameters[k])
		}
		b = append(b, '}')
	}
	if s.Default != nil {
		b = append(b, `,"default":`...)
		if b, err = c.appendValue(b, s, s.Default); err != nil {
			return nil, fmt.Errorf("default: %w", err)
		}
	}
	if field != "" {
		b = append(b, `,"field":`...)
		b = appendString(b, field)
	}
	b = append(b, '}')
	return b, nil
}

// maxDecimalScale bounds a Decimal's scale: big powers of ten cost time
// and memory, and no real decimal is near it.
const maxDecimalScale = 1000

// parseSchema reads a schema as Kafka's JsonConverter.asConnectSchema
// does; a missing or null node is no schema (schemaless).
func (c *JSONConverter) parseSchema(node any, depth int) (*connect.Schema, error) {
	if node == nil {
		return nil, nil
	}
	obj, ok := node.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: Schema must be a JSON object", connect.ErrData)
	}
	tn, ok := obj["type"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: Schema must contain 'type' field", connect.ErrData)
	}
	t, ok := typeFromJSON(tn)
	if !ok {
		return nil, fmt.Errorf("%w: Unknown schema type: %s", connect.ErrData, tn)
	}
	s := &connect.Schema{Type: t}
	switch t {
	case connect.TypeStruct:
		fields, ok := obj["fields"].([]any)
		if !ok {
			return nil, fmt.Errorf("%w: Struct schema's \"fields\" argument is not an array.", connect.ErrData)
		}
		for _, fn := range fields {
			fo, _ := fn.(map[string]any)
			name, ok := fo["field"].(string)
			if !ok {
				return nil, fmt.Errorf("%w: Struct schema's field name not specified properly", connect.ErrData)
			}
			if s.Field(name) != nil {
				return nil, fmt.Errorf("%w: Cannot create field because of field name duplication %s", connect.ErrData, name)
			}
			fs, err := c.parseSchema(fo, depth+1)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", name, err)
			}
			s.Fields = append(s.Fields, connect.Field{Name: name, Index: len(s.Fields), Schema: fs})
		}
	case connect.TypeArray:
		items, ok := obj["items"]
		if !ok || items == nil {
			return nil, fmt.Errorf("%w: Array schema did not specify the element type", connect.ErrData)
		}
		es, err := c.parseSchema(items, depth+1)
		if err != nil {
			return nil, err
		}
		s.ValueSchema = es
	case connect.TypeMap:
		keys, ok := obj["keys"]
		if !ok || keys == nil {
			return nil, fmt.Errorf("%w: Map schema did not specify the key type", connect.ErrData)
		}
		values, ok := obj["values"]
		if !ok || values == nil {
			return nil, fmt.Errorf("%w: Map schema did not specify the value type", connect.ErrData)
		}
		ks, err := c.parseSchema(keys, depth+1)
		if err != nil {
			return nil, err
		}
		switch ks.Type {
		case connect.TypeBytes, connect.TypeArray, connect.TypeMap:
			if ks.Name != connect.DecimalName {
				// Go map keys must be comparable; []byte, []any and maps
				// are not.
				return nil, fmt.Errorf("%w: map keys of type %s are not supported", connect.ErrData, ks.Type)
			}
		}
		vs, err := c.parseSchema(values, depth+1)
		if err != nil {
			return nil, err
		}
		s.KeySchema, s.ValueSchema = ks, vs
	}
	if o, ok := obj["optional"].(bool); ok && o {
		s.Optional = true
	}
	// Like Kafka, name, version, doc and parameters of the wrong JSON
	// type are ignored rather than refused.
	if n, ok := obj["name"].(string); ok {
		s.Name = n
	}
	if v, ok := obj["version"].(json.Number); ok {
		if n, err := strconv.ParseInt(string(v), 10, 32); err == nil {
			s.Version = int32(n)
		}
	}
	if d, ok := obj["doc"].(string); ok {
		s.Doc = d
	}
	if po, ok := obj["parameters"].(map[string]any); ok {
		s.Parameters = make(map[string]string, len(po))
		for k, v := range po {
			sv, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%w: Schema parameters must have string values.", connect.ErrData)
			}
			s.Parameters[k] = sv
		}
	}
	if s.Name == connect.DecimalName {
		if s.Type != connect.TypeBytes {
			return nil, fmt.Errorf("%w: Decimal must be of type bytes, not %s", connect.ErrData, s.Type)
		}
		if _, err := decimalScale(s); err != nil {
			return nil, err
		}
	}
	if d, ok := obj["default"]; ok && d != nil {
		dv, err := c.toConnect(s, d)
		if err != nil {
			return nil, fmt.Errorf("default: %w", err)
		}
		s.Default = dv
	}
	return s, nil
}

// decimalScale returns a Decimal schema's scale parameter.
func decimalScale(s *connect.Schema) (int, error) {
	p, ok := s.Parameters[connect.DecimalScaleParameter]
	if !ok {
		return 0, fmt.Errorf("%w: Invalid Decimal schema: scale parameter not found.", connect.ErrData)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n > maxDecimalScale || n < -maxDecimalScale {
		return 0, fmt.Errorf("%w: Invalid Decimal schema: scale %q", connect.ErrData, p)
	}
	return n, nil
}

// appendString writes s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, as Jackson does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, '"')
}

// appendFloat writes f as Jackson writes a double or float (Java's
// Double.toString / Float.toString: 1.0, 1.0E7), so a reader tells it
// from an integer and the bytes match a Java worker's.
func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %v cannot be written as JSON", connect.ErrData, f)
	}
	return append(b, javaDouble(f, bits)...), nil
}
