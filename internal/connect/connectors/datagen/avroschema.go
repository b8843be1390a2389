package datagen

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// parseAvroSchema reads a custom schema (schema.string, or the contents of
// schema.filename): an Avro record schema whose field types may carry
// avro-random-generator's "arg.properties" (options, range, iteration,
// regex, length). It returns the Connect schema AvroData would make of it
// and the generators of its fields. What it cannot generate (arrays,
// maps, unions other than null plus one type, references to named types)
// is an error naming the field, never a silent guess.
func parseAvroSchema(text string) (quickstart, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return quickstart{}, fmt.Errorf("the schema is not JSON: %w", err)
	}
	obj, ok := root.(map[string]any)
	if !ok || obj["type"] != "record" {
		return quickstart{}, fmt.Errorf("the schema must be an Avro record (a JSON object with \"type\": \"record\")")
	}
	g, err := avroType(root, nil, "")
	if err != nil {
		return quickstart{}, err
	}
	return quickstart{schema: g.schema, fields: g.sub}, nil
}

// avroType builds the generator of one Avro type. props are the
// arg.properties of the field holding it (when they sit on the field
// rather than on the type); path names the field for errors.
func avroType(t any, props map[string]any, path string) (fieldGen, error) {
	fail := func(format string, args ...any) (fieldGen, error) {
		where := ""
		if path != "" {
			where = "field " + path + ": "
		}
		return fieldGen{}, fmt.Errorf(where+format, args...)
	}
	var obj map[string]any
	switch x := t.(type) {
	case string:
		obj = map[string]any{"type": x}
	case map[string]any:
		obj = x
		if inner, ok := x["type"].(map[string]any); ok { // {"type": {"type": ...}}
			return avroType(inner, argProps(x, props), path)
		}
	case []any:
		return avroUnion(x, props, path)
	default:
		return fail("a type must be a name, an object or a union, not %v", t)
	}
	props = argProps(obj, props)
	name, _ := obj["type"].(string)
	if lt, ok := obj["logicalType"]; ok {
		return fail("logical type %v is not supported by Fjord's Datagen", lt)
	}
	for k := range props {
		if !slices.Contains(knownArgProperties, k) {
			return fail("arg.properties %q is not supported by Fjord's Datagen (it knows %s)", k, strings.Join(knownArgProperties, ", "))
		}
	}
	switch name {
	case "record":
		return avroRecord(obj, path)
	case "enum":
		syms, _ := obj["symbols"].([]any)
		if len(syms) == 0 {
			return fail("an enum needs symbols")
		}
		opts := make([]string, len(syms))
		for i, s := range syms {
			if opts[i], _ = s.(string); opts[i] == "" {
				return fail("enum symbol %v is not a name", s)
			}
		}
		g := options(opts...)
		g.schema = connect.StringSchema
		if props != nil {
			return fail("arg.properties on an enum are not supported: its symbols are drawn")
		}
		return g, nil
	case "boolean", "int", "long", "float", "double", "string", "bytes":
		g, err := primitiveGen(name, props)
		if err != nil {
			return fail("%v", err)
		}
		return g, nil
	case "array", "map", "fixed", "null":
		return fail("Fjord's Datagen does not generate Avro %s values", name)
	}
	return fail("unknown Avro type %q (references to named types are not supported)", name)
}

// knownArgProperties are the arg.properties Fjord's Datagen generates
// from; any other (odds, prefix, suffix, keys, ...) is refused rather
// than silently ignored.
var knownArgProperties = []string{"options", "iteration", "range", "regex", "length"}

// argProps returns obj's arg.properties, or the outer ones when it has
// none.
func argProps(obj map[string]any, outer map[string]any) map[string]any {
	if p, ok := obj["arg.properties"].(map[string]any); ok {
		return p
	}
	return outer
}

// avroUnion accepts what AvroData turns into an optional field: null and
// one other type. A value is drawn from either branch, as
// avro-random-generator does.
func avroUnion(branches []any, props map[string]any, path string) (fieldGen, error) {
	var other []any
	hasNull := false
	for _, b := range branches {
		if b == "null" {
			hasNull = true
			continue
		}
		other = append(other, b)
	}
	if !hasNull || len(other) != 1 {
		return fieldGen{}, fmt.Errorf("field %s: only a union of null and one type is supported", path)
	}
	g, err := avroType(other[0], props, path)
	if err != nil {
		return fieldGen{}, err
	}
	// A struct's value carries its schema, which must be the field's: the
	// optional one.
	g.schema = g.schema.OptionalCopy()
	return fieldGen{kind: genOptional, schema: g.schema, sub: []fieldGen{g}}, nil
}

// avroRecord builds a struct generator, named as AvroData names it (the
// namespace, a dot, the name).
func avroRecord(obj map[string]any, path string) (fieldGen, error) {
	fields, _ := obj["fields"].([]any)
	if len(fields) == 0 {
		return fieldGen{}, fmt.Errorf("record %s needs fields", path)
	}
	named := make([]namedGen, 0, len(fields))
	seen := map[string]bool{}
	for _, f := range fields {
		fo, _ := f.(map[string]any)
		name, _ := fo["name"].(string)
		if name == "" {
			return fieldGen{}, fmt.Errorf("record %s: a field has no name", path)
		}
		if seen[name] {
			return fieldGen{}, fmt.Errorf("record %s: field %s appears twice", path, name)
		}
		seen[name] = true
		sub := name
		if path != "" {
			sub = path + "." + name
		}
		g, err := avroType(fo["type"], argProps(fo, nil), sub)
		if err != nil {
			return fieldGen{}, err
		}
		doc, _ := fo["doc"].(string)
		if doc != "" && (g.kind == genRecord || g.kind == genOptional && g.sub[0].kind == genRecord) {
			// A struct value carries its schema, which must be the
			// field's, doc included: the generator makes its structs
			// with the documented copy.
			c := *g.schema
			c.Doc = doc
			g.schema = &c
			if g.kind == genOptional {
				g.sub[0].schema = &c
			}
			doc = ""
		}
		named = append(named, namedGen{name: name, doc: doc, gen: g, s: g.schema})
	}
	full, _ := obj["name"].(string)
	if ns, _ := obj["namespace"].(string); ns != "" && full != "" && !strings.Contains(full, ".") {
		full = ns + "." + full
	}
	doc, _ := obj["doc"].(string)
	s, gens := record(full, doc, named...)
	return fieldGen{kind: genRecord, schema: s, sub: gens}, nil
}

// primitiveGen builds the generator of a primitive type from its
// arg.properties: options, else iteration, else range, else regex or
// length (strings, bytes), else a default draw.
func primitiveGen(typ string, props map[string]any) (fieldGen, error) {
	g, err := primitiveDraw(typ, props)
	if err != nil {
		return fieldGen{}, err
	}
	g.schema = map[string]*connect.Schema{
		"boolean": connect.BooleanSchema, "int": connect.Int32Schema, "long": connect.Int64Schema,
		"float": connect.Float32Schema, "double": connect.Float64Schema,
		"string": connect.StringSchema, "bytes": connect.BytesSchema,
	}[typ]
	return g, nil
}

func primitiveDraw(typ string, props map[string]any) (fieldGen, error) {
	if v, ok := props["options"]; ok {
		opts, _ := v.([]any)
		if len(opts) == 0 {
			return fieldGen{}, fmt.Errorf("options must be a non-empty array")
		}
		table := make([]any, len(opts))
		for i, o := range opts {
			x, err := literal(typ, o)
			if err != nil {
				return fieldGen{}, fmt.Errorf("option %v: %w", o, err)
			}
			table[i] = x
		}
		return fieldGen{kind: genPick, table: table}, nil
	}
	if v, ok := props["iteration"]; ok {
		it, _ := v.(map[string]any)
		for k := range it {
			if k != "start" && k != "step" {
				return fieldGen{}, fmt.Errorf("iteration: %q is not supported (start and step are)", k)
			}
		}
		start, err1 := intProp(it, "start", 0)
		step, err2 := intProp(it, "step", 1)
		if err := firstErr(err1, err2); err != nil {
			return fieldGen{}, fmt.Errorf("iteration: %w", err)
		}
		switch typ {
		case "long":
			return longIter(start, step), nil
		case "int":
			return intIter(start, step), nil
		}
		return fieldGen{}, fmt.Errorf("iteration is supported on int and long, not %s", typ)
	}
	if v, ok := props["range"]; ok {
		return rangeGen(typ, v)
	}
	switch typ {
	case "string", "bytes":
		if re, ok := props["regex"]; ok {
			if typ != "string" {
				return fieldGen{}, fmt.Errorf("regex is supported on strings, not bytes")
			}
			src, _ := re.(string)
			node, err := parseRegex(src)
			if err != nil {
				return fieldGen{}, fmt.Errorf("regex %q: %w", src, err)
			}
			return fieldGen{kind: genRegex, re: node}, nil
		}
		lo, hi := int64(defaultStringLen), int64(defaultStringLen+1)
		if l, ok := props["length"]; ok {
			var err error
			if lo, hi, err = lengthProp(l); err != nil {
				return fieldGen{}, err
			}
		}
		g := fieldGen{kind: genString, lo: lo, hi: hi}
		if typ == "bytes" {
			g.kind = genBytes
		}
		return g, nil
	case "boolean":
		return fieldGen{kind: genPick, table: []any{false, true}}, nil
	case "int":
		return intRange(math.MinInt32, math.MaxInt32), nil
	case "long":
		return fieldGen{kind: genLongAny}, nil
	case "float":
		return fieldGen{kind: genFloatRange, flo: 0, fhi: 1}, nil
	case "double":
		return doubleRange(0, 1), nil
	}
	return fieldGen{}, fmt.Errorf("unknown type %s", typ)
}

// defaultStringLen is the length of a string drawn without arg.properties.
const defaultStringLen = 10

// maxDrawnLen bounds a drawn string or bytes value, so a typo in a
// schema cannot make every record gigabytes.
const maxDrawnLen = 1 << 20

func rangeGen(typ string, v any) (fieldGen, error) {
	r, _ := v.(map[string]any)
	switch typ {
	case "int", "long":
		// Unset bounds are the type's own.
		minV, maxV := int64(math.MinInt32), int64(math.MaxInt32)
		if typ == "long" {
			minV, maxV = math.MinInt64, math.MaxInt64
		}
		lo, err1 := intProp(r, "min", minV)
		hi, err2 := intProp(r, "max", maxV)
		if err := firstErr(err1, err2); err != nil {
			return fieldGen{}, fmt.Errorf("range: %w", err)
		}
		if hi <= lo {
			return fieldGen{}, fmt.Errorf("range: max %d must be above min %d", hi, lo)
		}
		if typ == "int" {
			if lo < math.MinInt32 || hi > math.MaxInt32+1 {
				return fieldGen{}, fmt.Errorf("range: [%d, %d) does not fit an int", lo, hi)
			}
			return intRange(lo, hi), nil
		}
		return longRange(lo, hi), nil
	case "float", "double":
		limit := math.MaxFloat64
		if typ == "float" {
			limit = math.MaxFloat32
		}
		lo, err1 := floatProp(r, "min", -limit)
		hi, err2 := floatProp(r, "max", limit)
		if err := firstErr(err1, err2); err != nil {
			return fieldGen{}, fmt.Errorf("range: %w", err)
		}
		if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			return fieldGen{}, fmt.Errorf("range: max %v must be above min %v", hi, lo)
		}
		if typ == "float" {
			return fieldGen{kind: genFloatRange, flo: lo, fhi: hi}, nil
		}
		return doubleRange(lo, hi), nil
	}
	return fieldGen{}, fmt.Errorf("range is supported on int, long, float and double, not %s", typ)
}

// lengthProp reads length: a number, or {"min": a, "max": b} drawing a
// length in [a, b).
func lengthProp(v any) (lo, hi int64, err error) {
	if n, ok := v.(json.Number); ok {
		l, err := n.Int64()
		if err != nil || l < 0 || l > maxDrawnLen {
			return 0, 0, fmt.Errorf("length %v must be a whole number from 0 to %d", v, maxDrawnLen)
		}
		return l, l + 1, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return 0, 0, fmt.Errorf("length must be a number or an object with min and max")
	}
	lo, err1 := intProp(m, "min", 0)
	hi, err2 := intProp(m, "max", lo+1)
	if err := firstErr(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("length: %w", err)
	}
	if lo < 0 || hi <= lo || hi > maxDrawnLen+1 {
		return 0, 0, fmt.Errorf("length: [%d, %d) must be a non-empty range within [0, %d]", lo, hi, maxDrawnLen)
	}
	return lo, hi, nil
}

func intProp(m map[string]any, key string, def int64) (int64, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s %v is not a number", key, v)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s %v is not a whole number", key, v)
	}
	return i, nil
}

func floatProp(m map[string]any, key string, def float64) (float64, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s %v is not a number", key, v)
	}
	return n.Float64()
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// literal converts an option to the field's type.
func literal(typ string, v any) (any, error) {
	switch typ {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "bytes":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "int", "long":
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				return nil, err
			}
			if typ == "int" {
				if i != int64(int32(i)) {
					return nil, fmt.Errorf("does not fit an int")
				}
				return int32(i), nil
			}
			return i, nil
		}
	case "float", "double":
		if n, ok := v.(json.Number); ok {
			f, err := n.Float64()
			if typ == "float" {
				return float32(f), err
			}
			return f, err
		}
	}
	return nil, fmt.Errorf("is not a %s", typ)
}

// drawString appends n random letters and digits to b.
func drawString(b []byte, r *rng, n int64) []byte {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	return drawFrom(b, r, alnum, n)
}

// drawFrom appends n characters of set (at most 256 bytes) to b, eight
// draws from each random number.
func drawFrom(b []byte, r *rng, set string, n int64) []byte {
	k := uint64(len(set))
	for n > 0 {
		x := r.next()
		for i := 0; i < 8 && n > 0; i++ {
			b = append(b, set[(uint64(byte(x))*k)>>8])
			x >>= 8
			n--
		}
	}
	return b
}
