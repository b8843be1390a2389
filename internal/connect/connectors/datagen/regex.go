package datagen

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// reKind is the kind of a node of a parsed regex.
type reKind uint8

const (
	reLiteral reKind = iota // lit
	reClass                 // one character of set (ASCII) or runes
	reConcat                // subs in order
	reAlt                   // one of subs
	reRepeat                // subs[0], min..max times
)

// reNode is a regex parsed for generation: what strings matching it look
// like, not how to match them. Only what generation needs is kept:
// literals, character classes, concatenation, alternation and bounded
// repetition.
type reNode struct {
	kind     reKind
	lit      string
	set      string // reClass: the characters, when all are ASCII
	runes    []rune // reClass: the characters otherwise
	subs     []*reNode
	min, max int
}

// unboundedExtra is how many repetitions past the minimum *, + and {n,}
// may draw.
const unboundedExtra = 8

// maxRepeat bounds {n,m}, like maxDrawnLen bounds length.
const maxRepeat = 1 << 16

// printable is what . and a negated class draw from: printable ASCII.
var printable = func() string {
	var b strings.Builder
	for c := byte(' '); c <= '~'; c++ {
		b.WriteByte(c)
	}
	return b.String()
}()

// parseRegex parses the regex subset avro-random-generator schemas use:
// literals, escapes (\d \w \s and escaped punctuation), ., classes with
// ranges and negation, groups (capturing or (?:...)), alternation, and the
// quantifiers ? * + {n} {n,} {n,m}. Anchors ^ and $ are accepted and
// ignored. Anything else is an error rather than a wrong guess.
func parseRegex(src string) (*reNode, error) {
	src = strings.TrimPrefix(src, "^")
	if strings.HasSuffix(src, "$") && (len(src)-len(strings.TrimRight(src[:len(src)-1], `\\`)))%2 == 1 {
		// An unescaped final $ is the anchor; \$ is a dollar sign.
		src = src[:len(src)-1]
	}
	p := &reParser{src: src}
	n, err := p.alt()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, fmt.Errorf("unexpected %q at %d", p.src[p.pos], p.pos)
	}
	if l := n.maxLen(); l > maxDrawnLen {
		return nil, fmt.Errorf("it can match strings of %d bytes or more, over the %d allowed", l, maxDrawnLen)
	}
	if w := n.work(); w > maxWork {
		return nil, fmt.Errorf("drawing one string takes over %d steps (nested repetitions)", maxWork)
	}
	return n, nil
}

// maxWork bounds the steps one draw takes, so a regex of nested
// repetitions of nothing ("((){9999}){9999}") is refused rather than
// stalling Poll: maxLen bounds what a draw makes, not how long it takes.
const maxWork = 1 << 22

// work is the most steps (nodes visited) one draw of n takes, saturated
// just above maxWork.
func (n *reNode) work() int {
	switch n.kind {
	case reConcat, reAlt:
		sum := 1
		for _, s := range n.subs {
			sum = min(sum+s.work(), maxWork+1)
		}
		return sum
	case reRepeat:
		return min(1+n.max*n.subs[0].work(), maxWork+1)
	}
	return 1
}

// maxLen is the length in bytes of the longest string n draws, saturated
// just above maxDrawnLen so nested repetitions cannot overflow.
func (n *reNode) maxLen() int {
	switch n.kind {
	case reLiteral:
		return len(n.lit)
	case reClass:
		if n.set != "" {
			return 1
		}
		return utf8.UTFMax
	case reConcat:
		sum := 0
		for _, s := range n.subs {
			sum = min(sum+s.maxLen(), maxDrawnLen+1)
		}
		return sum
	case reAlt:
		longest := 0
		for _, s := range n.subs {
			longest = max(longest, s.maxLen())
		}
		return longest
	case reRepeat:
		return min(n.max*n.subs[0].maxLen(), maxDrawnLen+1)
	}
	return 0
}

type reParser struct {
	src string
	pos int
}

func (p *reParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *reParser) alt() (*reNode, error) {
	var subs []*reNode
	for {
		c, err := p.concat()
		if err != nil {
			return nil, err
		}
		subs = append(subs, c)
		if p.peek() != '|' {
			break
		}
		p.pos++
	}
	if len(subs) == 1 {
		return subs[0], nil
	}
	return &reNode{kind: reAlt, subs: subs}, nil
}

func (p *reParser) concat() (*reNode, error) {
	var subs []*reNode
	var lit []byte // adjacent literals, merged so "User_" is one append
	flush := func() {
		if len(lit) > 0 {
			subs = append(subs, &reNode{kind: reLiteral, lit: string(lit)})
			lit = lit[:0]
		}
	}
	for p.pos < len(p.src) && p.peek() != '|' && p.peek() != ')' {
		a, err := p.atom()
		if err != nil {
			return nil, err
		}
		if a, err = p.quantified(a); err != nil {
			return nil, err
		}
		if a.kind == reLiteral {
			lit = append(lit, a.lit...)
			continue
		}
		flush()
		subs = append(subs, a)
	}
	flush()
	if len(subs) == 0 {
		return &reNode{kind: reLiteral}, nil
	}
	if len(subs) == 1 {
		return subs[0], nil
	}
	return &reNode{kind: reConcat, subs: subs}, nil
}

func (p *reParser) atom() (*reNode, error) {
	switch c := p.peek(); c {
	case '(':
		p.pos++
		if strings.HasPrefix(p.src[p.pos:], "?:") {
			p.pos += 2
		} else if p.peek() == '?' {
			return nil, fmt.Errorf("group flags at %d are not supported", p.pos)
		}
		n, err := p.alt()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, fmt.Errorf("missing ) at %d", p.pos)
		}
		p.pos++
		return n, nil
	case '[':
		return p.class()
	case '.':
		p.pos++
		return &reNode{kind: reClass, set: printable}, nil
	case '\\':
		return p.escape(false)
	case '*', '+', '?', '{':
		return nil, fmt.Errorf("quantifier %q at %d follows nothing", c, p.pos)
	case '^', '$':
		return nil, fmt.Errorf("anchor %q at %d is only supported at the ends", c, p.pos)
	}
	r, size := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += size
	return &reNode{kind: reLiteral, lit: string(r)}, nil
}

// escape reads \x: a class for \d \w \s, else the character itself.
func (p *reParser) escape(inClass bool) (*reNode, error) {
	p.pos++
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("trailing backslash")
	}
	c := p.src[p.pos]
	p.pos++
	switch c {
	case 'd':
		return &reNode{kind: reClass, set: "0123456789"}, nil
	case 'w':
		return &reNode{kind: reClass, set: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"}, nil
	case 's':
		return &reNode{kind: reClass, set: " "}, nil
	case 'n':
		return &reNode{kind: reLiteral, lit: "\n"}, nil
	case 't':
		return &reNode{kind: reLiteral, lit: "\t"}, nil
	}
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return nil, fmt.Errorf("escape \\%c is not supported", c)
	}
	return &reNode{kind: reLiteral, lit: string(c)}, nil
}

// class reads [...]: characters, ranges a-z, escapes, a leading ^.
func (p *reParser) class() (*reNode, error) {
	start := p.pos
	p.pos++
	negate := p.peek() == '^'
	if negate {
		p.pos++
	}
	seen := map[rune]bool{}
	var chars []rune
	add := func(r rune) {
		if !seen[r] {
			seen[r] = true
			chars = append(chars, r)
		}
	}
	first := true
	for {
		if p.pos >= len(p.src) {
			return nil, fmt.Errorf("missing ] for the class at %d", start)
		}
		if p.peek() == ']' && !first {
			p.pos++
			break
		}
		first = false
		var lo rune
		if p.peek() == '\\' {
			n, err := p.escape(true)
			if err != nil {
				return nil, err
			}
			if n.kind == reClass {
				for _, r := range n.set {
					add(r)
				}
				continue
			}
			lo, _ = utf8.DecodeRuneInString(n.lit)
		} else {
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			p.pos += size
			lo = r
		}
		if p.peek() == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] != ']' {
			p.pos++
			var hi rune
			if p.peek() == '\\' {
				n, err := p.escape(true)
				if err != nil {
					return nil, err
				}
				if n.kind != reLiteral {
					return nil, fmt.Errorf("a range at %d ends in a class", start)
				}
				hi, _ = utf8.DecodeRuneInString(n.lit)
			} else {
				r, size := utf8.DecodeRuneInString(p.src[p.pos:])
				p.pos += size
				hi = r
			}
			if hi < lo {
				return nil, fmt.Errorf("range %c-%c at %d is backwards", lo, hi, start)
			}
			if hi-lo > 1<<16 {
				return nil, fmt.Errorf("range %c-%c at %d is too wide", lo, hi, start)
			}
			for r := lo; r <= hi; r++ {
				add(r)
			}
			continue
		}
		add(lo)
	}
	if negate {
		var kept []rune
		for _, r := range printable {
			if !seen[r] {
				kept = append(kept, r)
			}
		}
		chars = kept
	}
	if len(chars) == 0 {
		return nil, fmt.Errorf("the class at %d matches nothing", start)
	}
	n := &reNode{kind: reClass, runes: chars}
	if s := string(chars); len(s) == len(chars) && len(s) <= 256 {
		n.set, n.runes = s, nil
	}
	return n, nil
}

// quantified applies a quantifier after a, if there is one.
func (p *reParser) quantified(a *reNode) (*reNode, error) {
	lo, hi := 0, 0
	switch p.peek() {
	case '?':
		lo, hi = 0, 1
	case '*':
		lo, hi = 0, unboundedExtra
	case '+':
		lo, hi = 1, 1+unboundedExtra
	case '{':
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			return nil, fmt.Errorf("missing } at %d", p.pos)
		}
		spec := p.src[p.pos+1 : p.pos+end]
		minS, maxS, comma := strings.Cut(spec, ",")
		var err error
		if lo, err = repeatCount(minS); err != nil {
			return nil, fmt.Errorf("bad repetition {%s}", spec)
		}
		switch {
		case !comma:
			hi = lo
		case maxS == "":
			hi = lo + unboundedExtra
		default:
			if hi, err = repeatCount(maxS); err != nil || hi < lo {
				return nil, fmt.Errorf("bad repetition {%s}", spec)
			}
		}
		p.pos += end
	default:
		return a, nil
	}
	p.pos++
	if q := p.peek(); q == '?' || q == '+' { // lazy or possessive: same strings
		p.pos++
	}
	return &reNode{kind: reRepeat, subs: []*reNode{a}, min: lo, max: hi}, nil
}

// repeatCount reads a count of {n,m}: plain digits, no sign or leading
// zero, at most maxRepeat.
func repeatCount(s string) (int, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad count %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxRepeat {
		return 0, fmt.Errorf("bad count %q", s)
	}
	return n, nil
}

// draw appends one string matching n to b.
func (n *reNode) draw(b []byte, r *rng) []byte {
	switch n.kind {
	case reLiteral:
		return append(b, n.lit...)
	case reClass:
		if n.set != "" {
			return drawFrom(b, r, n.set, 1)
		}
		return utf8.AppendRune(b, n.runes[r.intn(uint64(len(n.runes)))])
	case reConcat:
		for _, s := range n.subs {
			b = s.draw(b, r)
		}
		return b
	case reAlt:
		return n.subs[r.intn(uint64(len(n.subs)))].draw(b, r)
	case reRepeat:
		k := n.min
		if n.max > n.min {
			k += int(r.intn(uint64(n.max - n.min + 1)))
		}
		if s := n.subs[0]; s.kind == reClass && s.set != "" {
			return drawFrom(b, r, s.set, int64(k))
		}
		for range k {
			b = n.subs[0].draw(b, r)
		}
		return b
	}
	return b
}
