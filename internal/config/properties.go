package config

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxPropertiesBytes bounds the input of ParseProperties; a server.properties
// file is a few kilobytes, so anything near this is a mistake.
const MaxPropertiesBytes = 4 << 20

// ParseProperties reads a .properties file with java.util.Properties rules:
//   - lines end at \n, \r or \r\n; a line whose first non-blank character is
//     # or ! is a comment; blank lines are skipped;
//   - the key ends at the first unescaped =, : or blank (space, tab, form
//     feed); blanks around the separator are skipped, and a blank-only
//     separator works too ("key value");
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading blanks are dropped (comments cannot continue);
//   - escapes: \t \n \r \f, \uXXXX (UTF-16 surrogate pairs combine), and a
//     backslash before any other character stands for that character.
//
// Departures from Java, deliberate: input is UTF-8 (Java's load(InputStream)
// reads ISO-8859-1), a leading byte-order mark is skipped, and unescaped
// trailing blanks of a value are trimmed (Kafka trims every value anyway).
// A later duplicate key wins. Malformed \u escapes are errors wrapping
// ErrSyntax that give the line number. Input over MaxPropertiesBytes is
// rejected. ParseProperties never panics.
func ParseProperties(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPropertiesBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	if len(data) > MaxPropertiesBytes {
		return nil, fmt.Errorf("properties larger than %d bytes: %w", MaxPropertiesBytes, ErrSyntax)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	lines := splitNaturalLines(data)
	out := map[string]string{}
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		first := trimBlankLeft(lines[i])
		if len(first) == 0 || first[0] == '#' || first[0] == '!' {
			continue
		}
		logical := []byte(nil)
		piece := first
		for {
			if odd := trailingBackslashes(piece)%2 == 1; !odd {
				logical = append(logical, piece...)
				break
			}
			logical = append(logical, piece[:len(piece)-1]...)
			if i+1 >= len(lines) {
				break
			}
			i++
			piece = trimBlankLeft(lines[i])
		}
		key, value, err := splitKeyValue(logical)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		out[key] = value
	}
	return out, nil
}

// splitNaturalLines splits at \n, \r and \r\n.
func splitNaturalLines(data []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			lines = append(lines, data[start:i])
			start = i + 1
		case '\r':
			lines = append(lines, data[start:i])
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(data) {
		lines = append(lines, data[start:])
	}
	return lines
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimBlankLeft(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	return b
}

func trailingBackslashes(b []byte) int {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\\' {
		n++
	}
	return n
}

// splitKeyValue splits a logical line (continuations joined, escapes still
// in place) into an unescaped key and value.
func splitKeyValue(line []byte) (string, string, error) {
	keyEnd, valStart := len(line), len(line)
	hasSep, escaped := false, false
	for i, c := range line {
		if !escaped && (c == '=' || c == ':') {
			keyEnd, valStart, hasSep = i, i+1, true
			break
		}
		if !escaped && isBlank(c) {
			keyEnd, valStart = i, i+1
			break
		}
		escaped = c == '\\' && !escaped
	}
	for valStart < len(line) {
		c := line[valStart]
		if !isBlank(c) {
			if hasSep || (c != '=' && c != ':') {
				break
			}
			hasSep = true
		}
		valStart++
	}
	valEnd := len(line)
	for valEnd > valStart && isBlank(line[valEnd-1]) && trailingBackslashes(line[valStart:valEnd-1])%2 == 0 {
		valEnd--
	}
	key, err := unescape(line[:keyEnd])
	if err != nil {
		return "", "", err
	}
	value, err := unescape(line[valStart:valEnd])
	if err != nil {
		return "", "", err
	}
	return key, value, nil
}

// unescape resolves backslash escapes as Properties.loadConvert does.
func unescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		i++
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i >= len(b) {
			break // a lone trailing backslash stands for nothing
		}
		c = b[i]
		i++
		switch c {
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'f':
			out = append(out, '\f')
		case 'u':
			r, n, err := decodeU(b[i:])
			if err != nil {
				return "", err
			}
			i += n
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

// decodeU decodes the XXXX after \u, combining a following \uYYYY low
// surrogate with a high one. A lone surrogate becomes U+FFFD.
func decodeU(b []byte) (rune, int, error) {
	hi, ok := hex4(b)
	if !ok {
		return 0, 0, fmt.Errorf("malformed \\uXXXX escape: %w", ErrSyntax)
	}
	if utf16.IsSurrogate(hi) && len(b) >= 10 && b[4] == '\\' && b[5] == 'u' {
		if lo, ok := hex4(b[6:]); ok {
			if r := utf16.DecodeRune(hi, lo); r != utf8.RuneError {
				return r, 10, nil
			}
		}
	}
	if utf16.IsSurrogate(hi) {
		return utf8.RuneError, 4, nil
	}
	return hi, 4, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// FormatProperties writes m as a .properties file, keys sorted, escaping
// what ParseProperties would otherwise read differently, so that
// ParseProperties(FormatProperties(m)) equals m.
func FormatProperties(m map[string]string) []byte {
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key := k
		if buf.Len() == 0 && strings.HasPrefix(key, "\ufeff") {
			// A byte-order mark opening the file is skipped by the
			// parser; a key that starts with one must be escaped.
			buf.WriteString(`\uFEFF`)
			key = strings.TrimPrefix(key, "\ufeff")
		}
		buf.WriteString(escapeProperty(key, true))
		buf.WriteByte('=')
		buf.WriteString(escapeProperty(m[k], false))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// escapeProperty escapes backslashes and line breaks everywhere; in keys
// also separators, blanks and a leading comment mark; in values leading and
// trailing blanks.
func escapeProperty(s string, key bool) string {
	var b strings.Builder
	last := len(s) - 1
	for last >= 0 && isBlank(s[last]) {
		last--
	}
	leading := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		edge := leading || i > last
		if !isBlank(c) {
			leading = false
		}
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t' && (key || edge):
			b.WriteString(`\t`)
		case c == '\f' && (key || edge):
			b.WriteString(`\f`)
		case c == ' ' && (key || edge):
			b.WriteString(`\ `)
		case key && (c == '=' || c == ':'):
			b.WriteByte('\\')
			b.WriteByte(c)
		case key && i == 0 && (c == '#' || c == '!'):
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ParseOverrides parses --override arguments, each key=value (the first =
// splits; the value may be empty), into a map; a later key wins.
func ParseOverrides(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = trim(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("override %q is not key=value: %w", a, ErrSyntax)
		}
		out[k] = v
	}
	return out, nil
}
