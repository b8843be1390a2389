package transform

import (
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// MaskField is Kafka's MaskField$Key and MaskField$Value: it replaces the
// given fields with their type's null-equivalent (0, false, "", the
// epoch, an empty list or map), or with replacement parsed as the field's
// type. The schema does not change.
type MaskField struct {
	side        side
	fields      []string
	replacement *string
}

const maskPurpose = "mask fields"

// Config declares MaskField's keys.
func (*MaskField) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "fields", Type: connect.ConfigList, Default: connect.NoDefault, Importance: connect.High, Validator: nonEmptyList,
			Doc: "Names of fields to mask."},
		{Name: "replacement", Type: connect.ConfigString, NullDefault: true, Importance: connect.Low,
			Validator: func(v any) error {
				if v.(string) == "" {
					return fmt.Errorf("String must be non-empty")
				}
				return nil
			},
			Doc: "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only)."},
	}
}

// Configure reads the fields and the replacement.
func (t *MaskField) Configure(props map[string]string) error {
	p, err := parse("MaskField"+t.side.suffix(), t.Config(), props)
	if err != nil {
		return err
	}
	t.fields, t.replacement = p.List("fields"), nil
	if p.IsSet("replacement") {
		s := p.String("replacement")
		t.replacement = &s
	}
	return nil
}

// Apply masks the fields; tombstones pass through.
func (t *MaskField) Apply(r connect.Record) (connect.Record, bool, error) {
	schema, value := t.side.get(r)
	if value == nil {
		return r, true, nil
	}
	if schema == nil {
		m, err := requireMap(value, maskPurpose)
		if err != nil {
			return r, false, err
		}
		out := maps.Clone(m)
		// As Kafka, a listed field the map lacks is added as null.
		for _, f := range t.fields {
			if out[f], err = t.masked(m[f]); err != nil {
				return r, false, fmt.Errorf("field %s: %w", f, err)
			}
		}
		return t.side.set(r, nil, out), true, nil
	}
	st, err := requireStruct(value, maskPurpose)
	if err != nil {
		return r, false, err
	}
	out := &connect.Struct{Schema: st.Schema, Values: slices.Clone(st.Values)}
	for _, f := range t.fields {
		sf := st.Schema.Field(f)
		if sf == nil {
			continue
		}
		if out.Values[sf.Index], err = t.masked(st.Values[sf.Index]); err != nil {
			return r, false, fmt.Errorf("field %s: %w", f, err)
		}
	}
	return t.side.set(r, schema, out), true, nil
}

func (t *MaskField) masked(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if t.replacement != nil {
		return replaced(v, *t.replacement)
	}
	switch x := v.(type) {
	case bool:
		return false, nil
	case int8:
		return int8(0), nil
	case int16:
		return int16(0), nil
	case int32:
		return int32(0), nil
	case int64:
		return int64(0), nil
	case float32:
		return float32(0), nil
	case float64:
		return float64(0), nil
	case string:
		return "", nil
	case time.Time:
		return time.UnixMilli(0).UTC(), nil
	case *big.Rat:
		return new(big.Rat), nil
	case []any:
		return []any{}, nil
	case map[string]any:
		return map[string]any{}, nil
	case map[any]any:
		return map[any]any{}, nil
	default:
		return nil, fmt.Errorf("%w: Cannot mask value of type: %T", connect.ErrData, x)
	}
}

// replaced parses the replacement as v's type, as Kafka's MaskField does
// for numbers and strings.
func replaced(v any, repl string) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("%w: Unable to convert %s (%T) to number", connect.ErrData, repl, v)
	}
	switch v.(type) {
	case string:
		return repl, nil
	case int8, int16, int32, int64:
		bits := map[string]int{"int8": 8, "int16": 16, "int32": 32, "int64": 64}[fmt.Sprintf("%T", v)]
		n, err := strconv.ParseInt(repl, 10, bits)
		if err != nil {
			return bad()
		}
		switch v.(type) {
		case int8:
			return int8(n), nil
		case int16:
			return int16(n), nil
		case int32:
			return int32(n), nil
		}
		return n, nil
	case float32:
		f, err := strconv.ParseFloat(repl, 32)
		if err != nil {
			return bad()
		}
		return float32(f), nil
	case float64:
		f, err := strconv.ParseFloat(repl, 64)
		if err != nil {
			return bad()
		}
		return f, nil
	case *big.Rat:
		r, ok := new(big.Rat).SetString(repl)
		if !ok {
			return bad()
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: Cannot mask value of type %T with custom replacement.", connect.ErrData, v)
}
