package convert

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

const millisPerDay = 24 * 60 * 60 * 1000

// appendValue writes value of schema (nil: inferred from the Go type) as
// Kafka's JsonConverter.convertToJson does.
func (c *JSONConverter) appendValue(b []byte, s *connect.Schema, v any) ([]byte, error) {
	if v == nil {
		switch {
		case s == nil:
			return append(b, "null"...), nil
		case s.Default != nil && c.replaceNullDflt:
			return c.appendValue(b, s, s.Default)
		case s.Optional:
			return append(b, "null"...), nil
		}
		return nil, fmt.Errorf("%w: Conversion error: null value for field that is required and has no default value", connect.ErrData)
	}
	if s == nil {
		return c.appendSchemaless(b, v)
	}
	switch s.Name {
	case connect.DecimalName:
		return c.appendDecimal(b, s, v)
	case connect.DateName, connect.TimeName, connect.TimestampName:
		n, err := fromLogicalTime(s, v)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(b, n, 10), nil
	}
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("%w: Invalid type for %s: %T", connect.ErrData, strings.ToUpper(string(s.Type)), v)
	}
	switch s.Type {
	case connect.TypeInt8, connect.TypeInt16, connect.TypeInt32, connect.TypeInt64:
		n, ok := intOf(s.Type, v)
		if !ok {
			return bad()
		}
		return strconv.AppendInt(b, n, 10), nil
	case connect.TypeFloat32:
		f, ok := v.(float32)
		if !ok {
			return bad()
		}
		return appendFloat(b, float64(f), 32)
	case connect.TypeFloat64:
		f, ok := v.(float64)
		if !ok {
			return bad()
		}
		return appendFloat(b, f, 64)
	case connect.TypeBoolean:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		return strconv.AppendBool(b, x), nil
	case connect.TypeString:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendString(b, x), nil
	case connect.TypeBytes:
		x, ok := v.([]byte)
		if !ok {
			return bad()
		}
		return appendString(b, base64.StdEncoding.EncodeToString(x)), nil
	case connect.TypeArray:
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		return c.appendArray(b, s.ValueSchema, a)
	case connect.TypeMap:
		m, ok := v.(map[any]any)
		if !ok {
			return bad()
		}
		return c.appendMap(b, s, m)
	case connect.TypeStruct:
		st, ok := v.(*connect.Struct)
		if !ok {
			return bad()
		}
		if st.Schema != s && !connect.SchemasEqual(st.Schema, s) {
			return nil, fmt.Errorf("%w: Mismatching schema.", connect.ErrData)
		}
		b = append(b, '{')
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.Name)
			b = append(b, ':')
			var fv any
			if i < len(st.Values) {
				fv = st.Values[i]
			}
			var err error
			if b, err = c.appendValue(b, f.Schema, fv); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("%w: Couldn't convert %v to JSON.", connect.ErrData, v)
}

func intOf(t connect.Type, v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), t == connect.TypeInt8
	case int16:
		return int64(x), t == connect.TypeInt16
	case int32:
		return int64(x), t == connect.TypeInt32
	case int64:
		return x, t == connect.TypeInt64
	}
	return 0, false
}

func (c *JSONConverter) appendArray(b []byte, elem *connect.Schema, a []any) ([]byte, error) {
	b = append(b, '[')
	for i, e := range a {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = c.appendValue(b, elem, e); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return append(b, ']'), nil
}

// appendMap writes a map as a JSON object when its keys are strings, else
// as an array of [key, value] pairs, as Kafka does. Keys are sorted so the
// output is stable (Kafka's follows its HashMap).
func (c *JSONConverter) appendMap(b []byte, s *connect.Schema, m map[any]any) ([]byte, error) {
	var ks, vs *connect.Schema
	objectMode := true
	if s != nil {
		ks, vs = s.KeySchema, s.ValueSchema
		objectMode = ks != nil && ks.Type == connect.TypeString
	} else {
		for k := range m {
			if _, ok := k.(string); !ok {
				objectMode = false
				break
			}
		}
	}
	type entry struct {
		k   any
		key []byte
	}
	entries := make([]entry, 0, len(m))
	for k := range m {
		kb, err := c.appendValue(nil, ks, k)
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		entries = append(entries, entry{k, kb})
	}
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(string(x.key), string(y.key)) })
	open, close := byte('{'), byte('}')
	if !objectMode {
		open, close = '[', ']'
	}
	b = append(b, open)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		if !objectMode {
			b = append(b, '[')
		}
		b = append(b, e.key...)
		if objectMode {
			b = append(b, ':')
		} else {
			b = append(b, ',')
		}
		var err error
		if b, err = c.appendValue(b, vs, m[e.k]); err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		if !objectMode {
			b = append(b, ']')
		}
	}
	return append(b, close), nil
}

// appendSchemaless writes a value without a schema, its JSON type chosen
// by its Go type (Kafka's ConnectSchema.schemaType of its class).
func (c *JSONConverter) appendSchemaless(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case int8, int16, int32, int64:
		return strconv.AppendInt(b, reflectInt(x), 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float32:
		return appendFloat(b, float64(x), 32)
	case float64:
		return appendFloat(b, x, 64)
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x), nil
	case []byte:
		return appendString(b, base64.StdEncoding.EncodeToString(x)), nil
	case []any:
		return c.appendArray(b, nil, x)
	case map[any]any:
		return c.appendMap(b, nil, x)
	case map[string]any:
		m := make(map[any]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return c.appendMap(b, nil, m)
	case *connect.Struct:
		return nil, fmt.Errorf("%w: Mismatching schema.", connect.ErrData)
	}
	return nil, fmt.Errorf("%w: Go type %T does not have corresponding schema type.", connect.ErrData, v)
}

func reflectInt(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	return 0
}

// appendDecimal writes a Decimal as the base64 of its unscaled value's
// two's-complement big-endian bytes (Java's BigInteger.toByteArray), or
// as a JSON number when decimal.format is NUMERIC.
func (c *JSONConverter) appendDecimal(b []byte, s *connect.Schema, v any) ([]byte, error) {
	r, ok := v.(*big.Rat)
	if !ok {
		return nil, fmt.Errorf("%w: Invalid type for Decimal: %T", connect.ErrData, v)
	}
	scale, err := decimalScale(s)
	if err != nil {
		return nil, err
	}
	unscaled, err := unscaledOf(r, scale)
	if err != nil {
		return nil, err
	}
	if c.decimalNumeric {
		return append(b, plainDecimal(unscaled, scale)...), nil
	}
	return appendString(b, base64.StdEncoding.EncodeToString(twosComplement(unscaled))), nil
}

// unscaledOf returns r * 10^scale, which must be an integer (Kafka
// refuses a BigDecimal whose scale differs from the schema's).
func unscaledOf(r *big.Rat, scale int) (*big.Int, error) {
	x := new(big.Rat).Set(r)
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(scale))), nil))
	if scale >= 0 {
		x.Mul(x, p)
	} else {
		x.Quo(x, p)
	}
	if !x.IsInt() {
		return nil, fmt.Errorf("%w: BigDecimal has mismatching scale value for given Decimal schema", connect.ErrData)
	}
	return new(big.Int).Set(x.Num()), nil
}

// ratOf is unscaledOf's inverse.
func ratOf(unscaled *big.Int, scale int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(scale))), nil)
	if scale >= 0 {
		return new(big.Rat).SetFrac(unscaled, p)
	}
	return new(big.Rat).SetInt(new(big.Int).Mul(unscaled, p))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// plainDecimal writes unscaled / 10^scale as Java's BigDecimal.toString
// does (Jackson writes a NUMERIC Decimal so): plain with exactly scale
// fraction digits, unless the scale is negative or the number is below
// 10^-6, which take scientific form (1E-7, 1.23E+4).
func plainDecimal(unscaled *big.Int, scale int) string {
	neg := unscaled.Sign() < 0
	digits := new(big.Int).Abs(unscaled).String()
	sign := ""
	if neg {
		sign = "-"
	}
	if scale == 0 {
		return sign + digits
	}
	adjusted := len(digits) - 1 - scale
	if scale > 0 && adjusted >= -6 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	out := sign + digits[:1]
	if len(digits) > 1 {
		out += "." + digits[1:]
	}
	exp := strconv.Itoa(adjusted)
	if adjusted >= 0 {
		exp = "+" + exp
	}
	return out + "E" + exp
}

// twosComplement returns x as Java's BigInteger.toByteArray does: the
// shortest big-endian two's-complement form with a sign bit.
func twosComplement(x *big.Int) []byte {
	if x.Sign() >= 0 {
		b := x.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	m := new(big.Int).Neg(x)
	m.Sub(m, big.NewInt(1)) // -x-1 >= 0
	n := m.BitLen()/8 + 1
	v := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	v.Add(v, x)
	out := make([]byte, n)
	return v.FillBytes(out)
}

// fromTwosComplement is twosComplement's inverse.
func fromTwosComplement(b []byte) *big.Int {
	x := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return x
}

// fromLogicalTime turns a time.Time into the integer of a Date, Time or
// Timestamp schema, refusing what Kafka refuses (a Date with a time of
// day, a Time with a date).
func fromLogicalTime(s *connect.Schema, v any) (int64, error) {
	t, ok := v.(time.Time)
	if !ok {
		return 0, fmt.Errorf("%w: Invalid type for %s: %T", connect.ErrData, s.Name, v)
	}
	ms := t.UnixMilli()
	switch s.Name {
	case connect.DateName:
		if ms%millisPerDay != 0 || t.Nanosecond()%1e6 != 0 {
			return 0, fmt.Errorf("%w: Kafka Connect Date type should not have any time fields set to non-zero values.", connect.ErrData)
		}
		days := ms / millisPerDay
		if days < math.MinInt32 || days > math.MaxInt32 {
			return 0, fmt.Errorf("%w: Date %v out of range", connect.ErrData, t)
		}
		return days, nil
	case connect.TimeName:
		if ms < 0 || ms >= millisPerDay {
			return 0, fmt.Errorf("%w: Kafka Connect Time type should not have any date fields set to non-zero values.", connect.ErrData)
		}
		return ms, nil
	}
	return ms, nil
}

// toConnect reads a JSON node of schema (nil: inferred) as Kafka's
// JsonConverter.convertToConnect does.
func (c *JSONConverter) toConnect(s *connect.Schema, node any) (any, error) {
	if node == nil {
		switch {
		case s == nil:
			return nil, nil
		case s.Default != nil && c.replaceNullDflt:
			return s.Default, nil
		case s.Optional:
			return nil, nil
		}
		return nil, fmt.Errorf("%w: Invalid null value for required %s field", connect.ErrData, strings.ToUpper(string(s.Type)))
	}
	if s == nil {
		return inferSchemaless(node)
	}
	switch s.Name {
	case connect.DecimalName:
		return c.toDecimal(s, node)
	case connect.DateName, connect.TimeName, connect.TimestampName:
		return toLogicalTime(s, node)
	}
	num, isNum := node.(json.Number)
	bad := func() (any, error) {
		return nil, fmt.Errorf("%w: Invalid JSON for %s: %s", connect.ErrData, strings.ToUpper(string(s.Type)), jsonKind(node))
	}
	switch s.Type {
	case connect.TypeInt8, connect.TypeInt16, connect.TypeInt32, connect.TypeInt64:
		bits := map[connect.Type]int{connect.TypeInt8: 8, connect.TypeInt16: 16, connect.TypeInt32: 32, connect.TypeInt64: 64}[s.Type]
		if !isNum {
			return bad()
		}
		n, err := strconv.ParseInt(string(num), 10, bits)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not a valid %s", connect.ErrData, num, s.Type)
		}
		switch s.Type {
		case connect.TypeInt8:
			return int8(n), nil
		case connect.TypeInt16:
			return int16(n), nil
		case connect.TypeInt32:
			return int32(n), nil
		}
		return n, nil
	case connect.TypeFloat32, connect.TypeFloat64:
		if !isNum {
			return bad()
		}
		bits := 64
		if s.Type == connect.TypeFloat32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(num), bits)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not a valid %s", connect.ErrData, num, s.Type)
		}
		if bits == 32 {
			return float32(f), nil
		}
		return f, nil
	case connect.TypeBoolean:
		x, ok := node.(bool)
		if !ok {
			return bad()
		}
		return x, nil
	case connect.TypeString:
		x, ok := node.(string)
		if !ok {
			return bad()
		}
		return x, nil
	case connect.TypeBytes:
		x, ok := node.(string)
		if !ok {
			return bad()
		}
		raw, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			return nil, fmt.Errorf("%w: Invalid bytes field: %v", connect.ErrData, err)
		}
		return raw, nil
	case connect.TypeArray:
		a, ok := node.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: Arrays should be encoded as JSON arrays, but found %s", connect.ErrData, jsonKind(node))
		}
		out := make([]any, len(a))
		for i, e := range a {
			v, err := c.toConnect(s.ValueSchema, e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case connect.TypeMap:
		return c.toMap(s, node)
	case connect.TypeStruct:
		obj, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: Structs should be encoded as JSON objects, but found %s", connect.ErrData, jsonKind(node))
		}
		st := connect.NewStruct(s)
		for i, f := range s.Fields {
			v, err := c.toConnect(f.Schema, obj[f.Name])
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			st.Values[i] = v
		}
		return st, nil
	}
	return nil, fmt.Errorf("%w: Unknown schema type: %s", connect.ErrData, s.Type)
}

func (c *JSONConverter) toMap(s *connect.Schema, node any) (any, error) {
	out := map[any]any{}
	if s.KeySchema.Type == connect.TypeString {
		obj, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: Maps with string fields should be encoded as JSON objects, but found %s", connect.ErrData, jsonKind(node))
		}
		for k, e := range obj {
			key, err := c.toConnect(s.KeySchema, k)
			if err != nil {
				return nil, fmt.Errorf("map key: %w", err)
			}
			v, err := c.toConnect(s.ValueSchema, e)
			if err != nil {
				return nil, fmt.Errorf("map value of %q: %w", k, err)
			}
			out[key] = v
		}
		return out, nil
	}
	a, ok := node.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: Maps with non-string fields should be encoded as JSON array of tuples, but found %s", connect.ErrData, jsonKind(node))
	}
	for _, e := range a {
		pair, ok := e.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: Found invalid map entry instead of array tuple: %s", connect.ErrData, jsonKind(e))
		}
		if len(pair) != 2 {
			return nil, fmt.Errorf("%w: Found invalid map entry, expected length 2 but found :%d", connect.ErrData, len(pair))
		}
		k, err := c.toConnect(s.KeySchema, pair[0])
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		if !comparable(k) {
			return nil, fmt.Errorf("%w: map key of Go type %T is not supported", connect.ErrData, k)
		}
		v, err := c.toConnect(s.ValueSchema, pair[1])
		if err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		out[k] = v
	}
	return out, nil
}

func comparable(v any) bool {
	switch v.(type) {
	case []byte, []any, map[any]any, map[string]any:
		return false
	}
	return true
}

func (c *JSONConverter) toDecimal(s *connect.Schema, node any) (any, error) {
	scale, err := decimalScale(s)
	if err != nil {
		return nil, err
	}
	switch x := node.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			return nil, fmt.Errorf("%w: invalid Decimal %s", connect.ErrData, x)
		}
		// A number finer than the schema's scale would be silently
		// rounded on the way back out; refuse it.
		if _, err := unscaledOf(r, scale); err != nil {
			return nil, err
		}
		return r, nil
	case string:
		raw, err := base64.StdEncoding.DecodeString(x)
		if err != nil || len(raw) == 0 {
			return nil, fmt.Errorf("%w: Invalid bytes for Decimal field", connect.ErrData)
		}
		return ratOf(fromTwosComplement(raw), scale), nil
	}
	return nil, fmt.Errorf("%w: Invalid type for Decimal, underlying representation should be numeric or bytes but was %s", connect.ErrData, jsonKind(node))
}

func toLogicalTime(s *connect.Schema, node any) (any, error) {
	num, ok := node.(json.Number)
	bits := 32
	if s.Name == connect.TimestampName {
		bits = 64
	}
	var n int64
	var err error
	if ok {
		n, err = strconv.ParseInt(string(num), 10, bits)
	}
	if !ok || err != nil {
		kind := "integer"
		if bits == 64 {
			kind = "integral"
		}
		return nil, fmt.Errorf("%w: Invalid type for %s, underlying representation should be %s but was %s", connect.ErrData, s.Name[strings.LastIndex(s.Name, ".")+1:], kind, jsonKind(node))
	}
	switch s.Name {
	case connect.DateName:
		return time.Unix(n*86400, 0).UTC(), nil
	case connect.TimeName:
		if n < 0 || n >= millisPerDay {
			return nil, fmt.Errorf("%w: Time values must use number of milliseconds greater than 0 and less than 86400000", connect.ErrData)
		}
	}
	return time.UnixMilli(n).UTC(), nil
}

// inferSchemaless reads a JSON node without a schema: objects become
// map[string]any, integral numbers int64, other numbers float64, arrays
// []any.
func inferSchemaless(node any) (any, error) {
	switch x := node.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: number %s out of range", connect.ErrData, s)
		}
		return f, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			v, err := inferSchemaless(e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			v, err := inferSchemaless(e)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	return node, nil // string, bool, nil
}

func jsonKind(node any) string {
	switch node.(type) {
	case nil:
		return "NULL"
	case bool:
		return "BOOLEAN"
	case json.Number:
		return "NUMBER"
	case string:
		return "STRING"
	case []any:
		return "ARRAY"
	case map[string]any:
		return "OBJECT"
	}
	return fmt.Sprintf("%T", node)
}
