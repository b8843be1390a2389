package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultFormat prints values only, one per line, as
// kafka-console-consumer.sh does.
const defaultFormat = `%v\n`

// formatVerbs documents the --format directives (kcat -f's letters).
const formatVerbs = `%t topic, %p partition, %o offset, %k key, %v value, %h headers (k=v,...),
%T timestamp (unix ms), %K key length, %S value length, %% a percent sign;
escapes \n \t \r \\`

// formatPart is one piece of a compiled --format: literal bytes, or a verb.
type formatPart struct {
	lit  []byte
	verb byte // 0 for a literal
}

// recordFormat is a compiled --format template.
type recordFormat []formatPart

// parseFormat compiles a kcat-style template, rejecting unknown verbs so a
// typo shows at once rather than as odd output.
func parseFormat(s string) (recordFormat, error) {
	var (
		out recordFormat
		lit []byte
	)
	flush := func() {
		if len(lit) > 0 {
			out = append(out, formatPart{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("--format %q ends with a lone backslash", s)
			}
			i++
			switch s[i] {
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			case '\\':
				lit = append(lit, '\\')
			default:
				return nil, fmt.Errorf("--format %q: unknown escape \\%c", s, s[i])
			}
		case '%':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("--format %q ends with a lone %%", s)
			}
			i++
			switch v := s[i]; v {
			case '%':
				lit = append(lit, '%')
			case 't', 'p', 'o', 'k', 'v', 'h', 'T', 'K', 'S':
				flush()
				out = append(out, formatPart{verb: v})
			default:
				return nil, fmt.Errorf("--format %q: unknown directive %%%c (have %s)", s, v, formatVerbs)
			}
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return out, nil
}

// appendRecord appends r rendered by f to dst.
func (f recordFormat) appendRecord(dst []byte, r *kgo.Record) []byte {
	for _, p := range f {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'K':
			dst = strconv.AppendInt(dst, int64(len(r.Key)), 10)
		case 'S':
			dst = strconv.AppendInt(dst, int64(len(r.Value)), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		}
	}
	return dst
}

// recordJSON is one record under --output json, one object per line. Keys
// and values are strings when valid UTF-8; otherwise they are null and the
// bytes are in key_base64/value_base64. A null key or value (tombstone) is
// null with no base64 field.
type recordJSON struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"`
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []headerJSON `json:"headers,omitempty"`
}

type headerJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// bytesJSON splits b into its JSON string form or base64 form.
func bytesJSON(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if !utf8.Valid(b) {
		return nil, base64.StdEncoding.EncodeToString(b)
	}
	s := string(b)
	return &s, ""
}

// appendRecordJSON appends r as one JSON line.
func appendRecordJSON(dst []byte, r *kgo.Record) ([]byte, error) {
	j := recordJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	j.Key, j.KeyBase64 = bytesJSON(r.Key)
	j.Value, j.ValueBase64 = bytesJSON(r.Value)
	for _, h := range r.Headers {
		j.Headers = append(j.Headers, headerJSON{Key: h.Key, Value: string(h.Value)})
	}
	b, err := json.Marshal(j)
	if err != nil {
		return dst, fmt.Errorf("encode record %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}
