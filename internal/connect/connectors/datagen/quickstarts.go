package datagen

import (
	"math"
	"math/bits"
	"strings"

	"github.com/fjordstream/fjord/internal/connect"
)

// rng is splitmix64: its whole state is one number, so a source offset can
// hold it and a restarted task continues the same sequence.
type rng struct{ state uint64 }

func (r *rng) next() uint64 {
	r.state += 0x9E3779B97F4A7C15
	z := r.state
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// intn returns a number in [0, n), n > 0 (Lemire's multiply; the bias is
// below 2^-40 for the ranges used here, immaterial for mock data).
func (r *rng) intn(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// reseed moves to a fresh state below 2^53, as Confluent's task reseeds
// its Random after each record: the state stored in the offset then
// survives an offset store that decodes numbers as float64.
func (r *rng) reseed() { r.state = r.next() >> 11 }

// genKind is how a field's values are drawn, after the avro-random-generator
// arg.properties the quickstart schemas use.
type genKind uint8

const (
	genLongRange   genKind = iota // range: [lo, hi)
	genIntRange                   // range: [lo, hi), int32
	genDoubleRange                // range: [flo, fhi)
	genPick                       // options or regex: one of table
	genLongIter                   // iteration: start + step*count
	genIntIter                    // iteration, int32
	genRecord                     // a nested record of sub
	genOptional                   // sub[0] or nil, evenly (an Avro union with null)
	genString                     // letters and digits, length [lo, hi)
	genBytes                      // random bytes, length [lo, hi)
	genRegex                      // a string matching re
	genLongAny                    // any int64
	genFloatRange                 // range: [flo, fhi), float32
)

// fieldGen draws one field's value. Strings and small int ranges are boxed
// once into table, so drawing them allocates nothing.
type fieldGen struct {
	kind     genKind
	lo, hi   int64
	flo, fhi float64
	table    []any
	parts    []patternPart // genPick of a regex: how to index table
	schema   *connect.Schema
	sub      []fieldGen
	re       *reNode // genRegex
}

// drawState is what drawing one record needs besides the generators: the
// random source, the record's number, where nested structs come from (a
// batch allocation) and a scratch buffer strings are built in.
type drawState struct {
	r       *rng
	count   int64
	alloc   func(*connect.Schema) *connect.Struct
	scratch []byte
}

// patternPart is one character class repeated min..max times in a regex;
// its outcomes are numbered by count, then characters.
type patternPart struct {
	chars    string
	min, max int
	offs     []uint64 // first outcome of each count
	sizes    []uint64 // outcomes of each count
	total    uint64
}

// pattern returns a generator of prefix followed by the parts, e.g.
// User_[1-9]{0,1} is pattern("User_", part("123456789", 0, 1)). Every
// string it can produce is built up front (at most a few thousand here),
// so drawing is two random numbers per part and an index.
func pattern(prefix string, parts ...patternPart) fieldGen {
	table := []string{prefix}
	for i := range parts {
		p := &parts[i]
		var outcomes []string
		level := []string{""}
		for k := 0; k <= p.max; k++ {
			if k >= p.min {
				p.offs = append(p.offs, uint64(len(outcomes)))
				p.sizes = append(p.sizes, uint64(len(level)))
				outcomes = append(outcomes, level...)
			}
			var nextLevel []string
			for _, s := range level {
				for _, c := range p.chars {
					nextLevel = append(nextLevel, s+string(c))
				}
			}
			level = nextLevel
		}
		p.total = uint64(len(outcomes))
		grown := make([]string, 0, len(table)*len(outcomes))
		for _, s := range table {
			for _, o := range outcomes {
				grown = append(grown, s+o)
			}
		}
		table = grown
	}
	return fieldGen{kind: genPick, table: boxStrings(table), parts: parts}
}

func part(chars string, min, max int) patternPart {
	return patternPart{chars: chars, min: min, max: max}
}

const digits1to9, digits0to9 = "123456789", "0123456789"

func options(opts ...string) fieldGen {
	return fieldGen{kind: genPick, table: boxStrings(opts)}
}

func boxStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// maxBoxedRange is the largest int range boxed up front: bigger ones box
// each value as it is drawn.
const maxBoxedRange = 8192

func longRange(lo, hi int64) fieldGen { return fieldGen{kind: genLongRange, lo: lo, hi: hi} }

func intRange(lo, hi int64) fieldGen {
	g := fieldGen{kind: genIntRange, lo: lo, hi: hi}
	if hi-lo <= maxBoxedRange {
		g.table = make([]any, hi-lo)
		for i := range g.table {
			g.table[i] = int32(lo + int64(i))
		}
	}
	return g
}

func doubleRange(lo, hi float64) fieldGen { return fieldGen{kind: genDoubleRange, flo: lo, fhi: hi} }

func longIter(start, step int64) fieldGen { return fieldGen{kind: genLongIter, lo: start, hi: step} }
func intIter(start, step int64) fieldGen  { return fieldGen{kind: genIntIter, lo: start, hi: step} }

// draw returns one value of g for the record numbered d.count.
func (g *fieldGen) draw(d *drawState) any {
	r := d.r
	switch g.kind {
	case genLongRange:
		// In uint64: a range as wide as the type's overflows int64.
		return int64(uint64(g.lo) + r.intn(uint64(g.hi)-uint64(g.lo)))
	case genIntRange:
		i := r.intn(uint64(g.hi - g.lo))
		if g.table != nil {
			return g.table[i]
		}
		return int32(g.lo + int64(i))
	case genDoubleRange:
		return lerp(g.flo, g.fhi, r.float())
	case genFloatRange:
		return float32(lerp(g.flo, g.fhi, r.float()))
	case genPick:
		if g.parts == nil {
			return g.table[r.intn(uint64(len(g.table)))]
		}
		var idx uint64
		for i := range g.parts {
			p := &g.parts[i]
			k := r.intn(uint64(len(p.sizes)))
			idx = idx*p.total + p.offs[k] + r.intn(p.sizes[k])
		}
		return g.table[idx]
	case genLongIter:
		return g.lo + g.hi*d.count
	case genIntIter:
		return int32(g.lo + g.hi*d.count)
	case genLongAny:
		return int64(r.next())
	case genString:
		d.scratch = drawString(d.scratch[:0], r, g.drawLen(r))
		return string(d.scratch)
	case genBytes:
		n := g.drawLen(r)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.next())
		}
		return b
	case genRegex:
		d.scratch = g.re.draw(d.scratch[:0], r)
		return string(d.scratch)
	case genOptional:
		if r.next()&1 == 0 {
			return nil
		}
		return g.sub[0].draw(d)
	case genRecord:
		st := d.alloc(g.schema)
		for i := range g.sub {
			st.Values[i] = g.sub[i].draw(d)
		}
		return st
	}
	return nil
}

// lerp is the point f (in [0, 1)) of the way from lo to hi, without
// overflowing when the range spans the type's whole width; it stays below
// hi.
func lerp(lo, hi, f float64) float64 {
	v := lo*(1-f) + hi*f
	if v >= hi {
		v = math.Nextafter(hi, lo)
	}
	return max(v, lo)
}

// drawLen draws a length in [g.lo, g.hi).
func (g *fieldGen) drawLen(r *rng) int64 {
	if g.hi-g.lo <= 1 {
		return g.lo
	}
	return g.lo + int64(r.intn(uint64(g.hi-g.lo)))
}

// quickstart is one of Confluent's predefined schemas: its Connect schema
// (as AvroData converts the Avro one: the record's full name, its docs),
// the generators of its fields, and the field used as the key.
type quickstart struct {
	schema   *connect.Schema
	fields   []fieldGen
	keyField string
}

// Quickstart names, Confluent's (lower case, as users write them).
const (
	QuickstartUsers       = "users"
	QuickstartPageviews   = "pageviews"
	QuickstartOrders      = "orders"
	QuickstartStockTrades = "stock_trades"
)

// Quickstarts lists the quickstarts Fjord's Datagen implements.
func Quickstarts() []string {
	return []string{QuickstartUsers, QuickstartPageviews, QuickstartOrders, QuickstartStockTrades}
}

type namedGen struct {
	name string
	doc  string
	gen  fieldGen
	s    *connect.Schema
}

// record builds a struct schema named name and the generators of its
// fields.
func record(name, doc string, fields ...namedGen) (*connect.Schema, []fieldGen) {
	fs := make([]connect.Field, len(fields))
	gens := make([]fieldGen, len(fields))
	for i, f := range fields {
		s := f.s
		if f.doc != "" {
			c := *s
			c.Doc = f.doc
			s = &c
		}
		fs[i] = connect.Field{Name: f.name, Schema: s}
		gens[i] = f.gen
	}
	schema := connect.StructSchema(fs...)
	schema.Name, schema.Doc = name, doc
	return schema, gens
}

func long(name string, g fieldGen) namedGen {
	return namedGen{name: name, gen: g, s: connect.Int64Schema}
}
func int32f(name, doc string, g fieldGen) namedGen {
	return namedGen{name: name, doc: doc, gen: g, s: connect.Int32Schema}
}
func str(name, doc string, g fieldGen) namedGen {
	return namedGen{name: name, doc: doc, gen: g, s: connect.StringSchema}
}

// newQuickstart builds the named quickstart's schema and generators, after
// Confluent's *_schema.avro files (field names, types, ranges, regexes,
// options and key fields); false for an unknown name. Built per task:
// schemas are immutable once records use them, and no state is shared.
func newQuickstart(name string) (quickstart, bool) {
	userid := pattern("User_", part(digits1to9, 0, 1))
	switch strings.ToLower(name) {
	case QuickstartUsers:
		s, g := record("ksql.users", "",
			long("registertime", longRange(1487715775521, 1519273364600)),
			str("userid", "", userid),
			str("regionid", "", pattern("Region_", part(digits1to9, 0, 1))),
			str("gender", "", options("MALE", "FEMALE", "OTHER")))
		return quickstart{schema: s, fields: g, keyField: "userid"}, true
	case QuickstartPageviews:
		s, g := record("ksql.pageviews", "",
			long("viewtime", longIter(1, 10)),
			str("userid", "", userid),
			str("pageid", "", pattern("Page_", part(digits1to9, 1, 1), part(digits0to9, 0, 1))))
		return quickstart{schema: s, fields: g, keyField: "viewtime"}, true
	case QuickstartOrders:
		addr, addrGens := record("ksql.address", "",
			str("city", "", pattern("City_", part(digits1to9, 0, 2))),
			str("state", "", pattern("State_", part(digits1to9, 0, 2))),
			long("zipcode", longRange(10000, 99999)))
		s, g := record("ksql.orders", "",
			long("ordertime", longRange(1487715775521, 1519273364600)),
			int32f("orderid", "", intIter(0, 1)),
			str("itemid", "", pattern("BYOC_Item_", part(digits1to9, 1, 1), part(digits0to9, 0, 2))),
			namedGen{name: "orderunits", gen: doubleRange(0.1, 10.0), s: connect.Float64Schema},
			namedGen{name: "address", gen: fieldGen{kind: genRecord, schema: addr, sub: addrGens}, s: addr})
		return quickstart{schema: s, fields: g, keyField: "orderid"}, true
	case QuickstartStockTrades:
		s, g := record("ksql.StockTrade", "Defines a hypothetical stock trade using some known test stock symbols.",
			str("side", "A simulated trade side (buy or sell or short)", options("BUY", "SELL", "SHORT")),
			int32f("quantity", "A simulated random quantity of the trade", intRange(1, 5000)),
			str("symbol", "Simulated stock symbols", options("ZBZX", "ZJZZT", "ZTEST", "ZVV", "ZVZZT", "ZWZZT", "ZXZZT")),
			int32f("price", "A simulated random trade price in pennies", intRange(5, 1000)),
			str("account", "Simulated accounts assigned to the trade", options("ABC123", "LMN456", "XYZ789")),
			str("userid", "The simulated user who executed the trade", userid))
		return quickstart{schema: s, fields: g, keyField: "symbol"}, true
	}
	return quickstart{}, false
}

// nestedStructs counts the structs one record of fields needs besides its
// own, so a batch allocates them together.
func nestedStructs(fields []fieldGen) (structs, values int) {
	for i := range fields {
		switch fields[i].kind {
		case genRecord:
			s, v := nestedStructs(fields[i].sub)
			structs += 1 + s
			values += len(fields[i].sub) + v
		case genOptional:
			s, v := nestedStructs(fields[i].sub)
			structs += s
			values += v
		}
	}
	return structs, values
}
