package convert

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// textParser reads SimpleHeaderConverter's text form back into values.
type textParser struct {
	s string
	i int
}

func (p *textParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// value reads one value; inside a list or map (embedded) a bare token
// ends at , : ] or }, and "null" is a null.
func (p *textParser) value(embedded bool) (*connect.Schema, any, bool) {
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, nil, false
	}
	switch p.s[p.i] {
	case '[':
		return p.list()
	case '{':
		return p.mapValue()
	case '"':
		if embedded {
			str, ok := p.quoted()
			return connect.StringSchema, str, ok
		}
	}
	start := p.i
	if embedded {
		for p.i < len(p.s) && !strings.ContainsRune(",:]}", rune(p.s[p.i])) {
			p.i++
		}
	} else {
		p.i = len(p.s)
	}
	tok := strings.TrimSpace(p.s[start:p.i])
	if embedded && tok == "null" {
		return nil, nil, true
	}
	if tok == "" {
		return nil, nil, false
	}
	s, v := scalar(tok)
	if !embedded && s.Type == connect.TypeString {
		return s, p.s, true // a top-level string keeps its spaces
	}
	return s, v, true
}

func (p *textParser) quoted() (string, bool) {
	var sb strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		switch ch := p.s[p.i]; ch {
		case '\\':
			p.i++
			if p.i >= len(p.s) {
				return "", false
			}
			sb.WriteByte(p.s[p.i])
		case '"':
			p.i++
			return sb.String(), true
		default:
			sb.WriteByte(ch)
		}
	}
	return "", false
}

func (p *textParser) list() (*connect.Schema, any, bool) {
	p.i++ // [
	out := []any{}
	var schemas []*connect.Schema
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return nil, out, true
	}
	for {
		s, v, ok := p.value(true)
		if !ok {
			return nil, nil, false
		}
		out, schemas = append(out, v), append(schemas, s)
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, nil, false
		}
		if p.s[p.i] == ']' {
			p.i++
			break
		}
		if p.s[p.i] != ',' {
			return nil, nil, false
		}
		p.i++
	}
	elem, vals := common(schemas, out)
	if elem == nil {
		return nil, out, true
	}
	return connect.ArraySchema(elem), vals, true
}

func (p *textParser) mapValue() (*connect.Schema, any, bool) {
	p.i++ // {
	out := map[any]any{}
	var keys, vals []any
	var ks, vs []*connect.Schema
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil, out, true
	}
	for {
		k, kv, ok := p.value(true)
		if !ok || kv == nil || !comparable(kv) {
			return nil, nil, false
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, nil, false
		}
		p.i++
		v, vv, ok := p.value(true)
		if !ok {
			return nil, nil, false
		}
		keys, vals, ks, vs = append(keys, kv), append(vals, vv), append(ks, k), append(vs, v)
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, nil, false
		}
		if p.s[p.i] == '}' {
			p.i++
			break
		}
		if p.s[p.i] != ',' {
			return nil, nil, false
		}
		p.i++
	}
	kSchema, keys := common(ks, keys)
	vSchema, vals := common(vs, vals)
	for i := range keys {
		if !comparable(keys[i]) {
			return nil, nil, false
		}
		out[keys[i]] = vals[i]
	}
	if kSchema == nil || vSchema == nil {
		return nil, out, true
	}
	return connect.MapSchema(kSchema, vSchema), out, true
}

// common returns the schema every element fits (integers widened to the
// widest, integers and floats to float64; optional when one is null) and
// the elements converted to it, or nil and the elements as they are when
// the kinds differ.
func common(schemas []*connect.Schema, vals []any) (*connect.Schema, []any) {
	var t connect.Type
	var named *connect.Schema
	optional := false
	rank := map[connect.Type]int{connect.TypeInt8: 1, connect.TypeInt16: 2, connect.TypeInt32: 3, connect.TypeInt64: 4, connect.TypeFloat64: 5}
	for _, s := range schemas {
		switch {
		case s == nil:
			optional = true
			continue
		case t == "":
			t, named = s.Type, s
		case rank[s.Type] > 0 && rank[t] > 0:
			if rank[s.Type] > rank[t] {
				t, named = s.Type, s
			}
		case s.Type != t || s.Name != named.Name || s.Type == connect.TypeArray || s.Type == connect.TypeMap:
			return nil, vals
		}
	}
	if t == "" {
		return nil, vals
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = widen(v, t)
	}
	s := named
	if rank[t] > 0 {
		s = &connect.Schema{Type: t}
	}
	if optional {
		s = s.OptionalCopy()
	}
	return s, out
}

func widen(v any, t connect.Type) any {
	var n int64
	switch x := v.(type) {
	case int8:
		n = int64(x)
	case int16:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	default:
		return v
	}
	switch t {
	case connect.TypeInt16:
		return int16(n)
	case connect.TypeInt32:
		return int32(n)
	case connect.TypeInt64:
		return n
	case connect.TypeFloat64:
		return float64(n)
	}
	return v
}

// scalar infers one bare token's schema and value as Kafka's
// Values.parseString does: temporal literals first, then numbers (the
// smallest integer type that holds the value exactly, else float32 when
// finite, else float64, else a Decimal), then booleans; anything else is a
// string.
func scalar(tok string) (*connect.Schema, any) {
	switch tok {
	case "true":
		return connect.BooleanSchema, true
	case "false":
		return connect.BooleanSchema, false
	}
	first := tok[0]
	if first >= '0' && first <= '9' {
		if t, err := time.Parse(isoTimestamp, tok); err == nil {
			return connect.TimestampSchema(), t.UTC()
		}
		if t, err := time.Parse(isoDate, tok); err == nil {
			return connect.DateSchema(), t.UTC()
		}
		if t, err := time.Parse(isoTime, tok); err == nil {
			return connect.TimeSchema(), time.UnixMilli(int64(t.Hour()*3600000 + t.Minute()*60000 + t.Second()*1000 + t.Nanosecond()/1e6)).UTC()
		}
	}
	if (first >= '0' && first <= '9' || first == '+' || first == '-') && looksNumeric(tok) {
		if s, v, ok := number(tok); ok {
			return s, v
		}
	}
	return connect.StringSchema, tok
}

// number parses a numeric token as Java's BigDecimal and picks its type
// as Values.parseString does.
func number(tok string) (*connect.Schema, any, bool) {
	r, ok := new(big.Rat).SetString(tok)
	if !ok {
		return nil, nil, false
	}
	if r.IsInt() && r.Num().IsInt64() {
		n := r.Num().Int64()
		switch {
		case n >= math.MinInt8 && n <= math.MaxInt8:
			return connect.Int8Schema, int8(n), true
		case n >= math.MinInt16 && n <= math.MaxInt16:
			return connect.Int16Schema, int16(n), true
		case n >= math.MinInt32 && n <= math.MaxInt32:
			return connect.Int32Schema, int32(n), true
		}
		return connect.Int64Schema, n, true
	}
	scale := javaScale(tok)
	if scale != 0 {
		if f, _ := r.Float32(); !math.IsInf(float64(f), 0) {
			return connect.Float32Schema, f, true
		}
		if f, _ := r.Float64(); !math.IsInf(f, 0) {
			return connect.Float64Schema, f, true
		}
	}
	if scale < -1000 || scale > 1000 {
		return nil, nil, false
	}
	return connect.DecimalSchema(scale), r, true
}

// javaScale is the scale Java's BigDecimal gives a literal: the digits
// after the point less the exponent.
func javaScale(tok string) int {
	mant, exp, _ := strings.Cut(strings.ToLower(tok), "e")
	scale := 0
	if _, frac, ok := strings.Cut(mant, "."); ok {
		scale = len(frac)
	}
	if exp != "" {
		e, err := strconv.Atoi(exp)
		if err != nil {
			return 0
		}
		scale -= e
	}
	return scale
}

// looksNumeric keeps ParseFloat from taking words like "Inf" or "NaN" or
// hexadecimal forms, which Java's BigDecimal refuses.
func looksNumeric(tok string) bool {
	for i := 0; i < len(tok); i++ {
		ch := tok[i]
		if !(ch >= '0' && ch <= '9' || ch == '.' || ch == '-' || ch == '+' || ch == 'e' || ch == 'E') {
			return false
		}
	}
	return true
}
