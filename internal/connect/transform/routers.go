package transform

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
)

// TimestampRouter is Kafka's TimestampRouter: the topic becomes
// topic.format with ${topic} and ${timestamp} replaced, the timestamp
// (the record's, in UTC) written with timestamp.format, a Java
// SimpleDateFormat pattern.
type TimestampRouter struct {
	format string
	layout []dateToken
}

// Config declares TimestampRouter's keys.
func (*TimestampRouter) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "topic.format", Type: connect.ConfigString, Default: "${topic}-${timestamp}", Importance: connect.High,
			Doc: "Format string which can contain <code>${topic}</code> and <code>${timestamp}</code> as placeholders for the topic and timestamp, respectively."},
		{Name: "timestamp.format", Type: connect.ConfigString, Default: "yyyyMMdd", Importance: connect.High,
			Doc: "Format string for the timestamp that is compatible with <code>java.text.SimpleDateFormat</code>."},
	}
}

// Configure reads and checks the formats.
func (t *TimestampRouter) Configure(props map[string]string) error {
	p, err := parse("TimestampRouter", t.Config(), props)
	if err != nil {
		return err
	}
	t.format = p.String("topic.format")
	if t.layout, err = parseDateFormat(p.String("timestamp.format")); err != nil {
		return fmt.Errorf("TimestampRouter: Invalid value %s for configuration timestamp.format: %w", p.String("timestamp.format"), err)
	}
	return nil
}

// Apply renames the topic; a record without a timestamp is an error.
func (t *TimestampRouter) Apply(r connect.Record) (connect.Record, bool, error) {
	if r.Timestamp.IsZero() {
		return r, false, fmt.Errorf("%w: Timestamp missing on record: topic %s", connect.ErrData, r.Topic)
	}
	ts := formatDate(t.layout, r.Timestamp.UTC())
	r.Topic = strings.ReplaceAll(strings.ReplaceAll(t.format, "${topic}", r.Topic), "${timestamp}", ts)
	return r, true, nil
}

// dateToken is one piece of a SimpleDateFormat pattern: a run of one
// pattern letter, or literal text.
type dateToken struct {
	letter  byte
	count   int
	literal string
}

// parseDateFormat splits a java.text.SimpleDateFormat pattern; letters it
// does not know are refused as Java refuses them.
func parseDateFormat(p string) ([]dateToken, error) {
	var out []dateToken
	for i := 0; i < len(p); {
		ch := p[i]
		switch {
		case ch == '\'':
			if i+1 < len(p) && p[i+1] == '\'' {
				out = append(out, dateToken{literal: "'"})
				i += 2
				continue
			}
			end := strings.IndexByte(p[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("Unterminated quote")
			}
			out = append(out, dateToken{literal: p[i+1 : i+1+end]})
			i += end + 2
		case ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
			if !strings.ContainsRune("GyYMdHkKhmsSEaDuzZX", rune(ch)) {
				return nil, fmt.Errorf("Illegal pattern character '%c'", ch)
			}
			j := i
			for j < len(p) && p[j] == ch {
				j++
			}
			out = append(out, dateToken{letter: ch, count: j - i})
			i = j
		default:
			out = append(out, dateToken{literal: string(ch)})
			i++
		}
	}
	return out, nil
}

func formatDate(tokens []dateToken, t time.Time) string {
	var sb strings.Builder
	num := func(n, width int) {
		s := strconv.Itoa(n)
		for len(s) < width {
			s = "0" + s
		}
		sb.WriteString(s)
	}
	for _, tk := range tokens {
		if tk.letter == 0 {
			sb.WriteString(tk.literal)
			continue
		}
		switch tk.letter {
		case 'G':
			sb.WriteString("AD")
		case 'y', 'Y':
			if tk.count == 2 {
				num(t.Year()%100, 2)
			} else {
				num(t.Year(), tk.count)
			}
		case 'M':
			switch {
			case tk.count >= 4:
				sb.WriteString(t.Month().String())
			case tk.count == 3:
				sb.WriteString(t.Month().String()[:3])
			default:
				num(int(t.Month()), tk.count)
			}
		case 'd':
			num(t.Day(), tk.count)
		case 'D':
			num(t.YearDay(), tk.count)
		case 'H':
			num(t.Hour(), tk.count)
		case 'k':
			h := t.Hour()
			if h == 0 {
				h = 24
			}
			num(h, tk.count)
		case 'K':
			num(t.Hour()%12, tk.count)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, tk.count)
		case 'm':
			num(t.Minute(), tk.count)
		case 's':
			num(t.Second(), tk.count)
		case 'S':
			num(t.Nanosecond()/1e6, tk.count)
		case 'E':
			if tk.count >= 4 {
				sb.WriteString(t.Weekday().String())
			} else {
				sb.WriteString(t.Weekday().String()[:3])
			}
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			num(wd, tk.count)
		case 'a':
			if t.Hour() < 12 {
				sb.WriteString("AM")
			} else {
				sb.WriteString("PM")
			}
		case 'z':
			sb.WriteString("UTC")
		case 'Z':
			sb.WriteString("+0000")
		case 'X':
			sb.WriteString("Z")
		}
	}
	return sb.String()
}

// RegexRouter is Kafka's RegexRouter: a topic the regex matches whole is
// renamed to replacement, where $1 and ${name} are the regex's groups as
// in Java's Matcher.replaceFirst. The regex is Go's RE2, which lacks
// Java's look-arounds and back-references.
type RegexRouter struct {
	re          *regexp.Regexp
	replacement string
}

// Config declares RegexRouter's keys.
func (*RegexRouter) Config() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "regex", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High,
			Doc: "Regular expression to use for matching."},
		{Name: "replacement", Type: connect.ConfigString, Default: connect.NoDefault, Importance: connect.High,
			Doc: "Replacement string."},
	}
}

// Configure compiles the regex and translates the replacement.
func (t *RegexRouter) Configure(props map[string]string) error {
	p, err := parse("RegexRouter", t.Config(), props)
	if err != nil {
		return err
	}
	if t.re, err = compileJavaRegex(p.String("regex")); err != nil {
		return fmt.Errorf("RegexRouter: Invalid value %s for configuration regex: %w", p.String("regex"), err)
	}
	if t.replacement, err = javaReplacement(p.String("replacement"), t.re); err != nil {
		return fmt.Errorf("RegexRouter: Invalid value %s for configuration replacement: %w", p.String("replacement"), err)
	}
	return nil
}

// Apply renames a matching topic.
func (t *RegexRouter) Apply(r connect.Record) (connect.Record, bool, error) {
	m := t.re.FindStringSubmatchIndex(r.Topic)
	if m == nil {
		return r, true, nil
	}
	r.Topic = string(t.re.ExpandString(nil, t.replacement, r.Topic, m))
	return r, true, nil
}

// compileJavaRegex compiles a pattern to match whole strings, as Java's
// Matcher.matches does.
func compileJavaRegex(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// javaReplacement turns a Java replacement string ($1, ${name}, \$ for a
// literal) into Go's Expand template ($$ for a literal, ${1}).
func javaReplacement(s string, re *regexp.Regexp) (string, error) {
	var sb strings.Builder
	groups := re.NumSubexp()
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\\':
			i++
			if i >= len(s) {
				return "", fmt.Errorf("character to be escaped is missing")
			}
			if s[i] == '$' {
				sb.WriteString("$$")
			} else {
				sb.WriteByte(s[i])
			}
		case '$':
			i++
			if i >= len(s) {
				return "", fmt.Errorf("Illegal group reference: group index is missing")
			}
			if s[i] == '{' {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return "", fmt.Errorf("named capturing group is missing trailing '}'")
				}
				name := s[i+1 : i+end]
				if re.SubexpIndex(name) < 0 {
					return "", fmt.Errorf("No group with name {%s}", name)
				}
				sb.WriteString("${" + name + "}")
				i += end
				continue
			}
			if s[i] < '0' || s[i] > '9' {
				return "", fmt.Errorf("Illegal group reference")
			}
			// Java takes further digits while the number stays a group.
			n := int(s[i] - '0')
			if n > groups {
				return "", fmt.Errorf("No group %d", n)
			}
			for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' && n*10+int(s[i+1]-'0') <= groups {
				i++
				n = n*10 + int(s[i]-'0')
			}
			sb.WriteString("${" + strconv.Itoa(n) + "}")
		default:
			sb.WriteByte(ch)
		}
	}
	return sb.String(), nil
}

// Filter is Kafka's Filter: it drops every record, so it is used with a
// predicate (transforms.x.predicate) to drop the records that match.
type Filter struct{}

// Config declares Filter's keys (none).
func (*Filter) Config() connect.ConfigDef { return connect.ConfigDef{} }

// Configure does nothing: Filter has no settings.
func (*Filter) Configure(map[string]string) error { return nil }

// Apply drops the record.
func (*Filter) Apply(r connect.Record) (connect.Record, bool, error) {
	return connect.Record{}, false, nil
}
