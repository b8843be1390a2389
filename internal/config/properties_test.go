package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties_Rules(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"equals", "a=b", map[string]string{"a": "b"}},
		{"colon", "a:b", map[string]string{"a": "b"}},
		{"blank separator", "a b", map[string]string{"a": "b"}},
		{"blanks around separator", "a \t= \f b", map[string]string{"a": "b"}},
		{"blank then colon", "a : b", map[string]string{"a": "b"}},
		{"second separator kept", "a==b", map[string]string{"a": "=b"}},
		{"blank, separator, separator", "a = = b", map[string]string{"a": "= b"}},
		{"leading blanks", "   \ta=b", map[string]string{"a": "b"}},
		{"trailing blanks trimmed", "a=b  \t", map[string]string{"a": "b"}},
		{"escaped trailing blank kept", `a=b\ `, map[string]string{"a": "b "}},
		{"inner blanks kept", "a=b  c", map[string]string{"a": "b  c"}},
		{"hash comment", "# c\na=b", map[string]string{"a": "b"}},
		{"bang comment", "! c\na=b", map[string]string{"a": "b"}},
		{"indented comment", "   # c=d\na=b", map[string]string{"a": "b"}},
		{"hash inside value", "a=b#c", map[string]string{"a": "b#c"}},
		{"blank lines", "\n\n  \na=b\n\n", map[string]string{"a": "b"}},
		{"key only", "a", map[string]string{"a": ""}},
		{"empty value", "a=", map[string]string{"a": ""}},
		{"empty key", "=b", map[string]string{"": "b"}},
		{"continuation", "a=b,\\\n    c", map[string]string{"a": "b,c"}},
		{"continuation keeps blanks before backslash", "a=b \\\n  c", map[string]string{"a": "b c"}},
		{"continuation chain", "a=1\\\n 2\\\n 3\nb=4", map[string]string{"a": "123", "b": "4"}},
		{"continuation into blank line ends", "a=1\\\n   \nb=2", map[string]string{"a": "1", "b": "2"}},
		{"continued line starting with hash is content", "a=1\\\n#2", map[string]string{"a": "1#2"}},
		{"comment cannot continue", "# c\\\na=b", map[string]string{"a": "b"}},
		{"even backslashes do not continue", "a=b\\\\\nc=d", map[string]string{"a": `b\`, "c": "d"}},
		{"backslash at EOF", "a=b\\", map[string]string{"a": "b"}},
		{"continuation in key", "ke\\\n  y=v", map[string]string{"key": "v"}},
		{"escaped separators in key", `a\=b\:c\ d=e`, map[string]string{"a=b:c d": "e"}},
		{"escapes", `a=\t\n\r\f\\\q`, map[string]string{"a": "\t\n\r\f\\q"}},
		{"unicode escape", `a=\u0041\u00e9`, map[string]string{"a": "Aé"}},
		{"surrogate pair", `a=\uD83D\uDE00`, map[string]string{"a": "😀"}},
		{"lone surrogate", `a=\uD83Dx`, map[string]string{"a": "\uFFFDx"}},
		{"utf8 passes through", "a=é", map[string]string{"a": "é"}},
		{"crlf", "a=b\r\nc=d\r\n", map[string]string{"a": "b", "c": "d"}},
		{"cr only", "a=b\rc=d", map[string]string{"a": "b", "c": "d"}},
		{"crlf continuation", "a=b\\\r\n  c", map[string]string{"a": "bc"}},
		{"duplicate: last wins", "a=1\na=2", map[string]string{"a": "2"}},
		{"bom skipped", "\xef\xbb\xbfa=b", map[string]string{"a": "b"}},
		{"kafka style", "listeners=PLAINTEXT://:9092,\\\n  CONTROLLER://:9093\nlog.dirs = /tmp/a , /tmp/b",
			map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093", "log.dirs": "/tmp/a , /tmp/b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProperties(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("ParseProperties(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseProperties(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseProperties_Errors(t *testing.T) {
	tests := []struct {
		name, in, wantMsg string
	}{
		{"short unicode escape", "a=1\nb=\\u12", "line 2: malformed \\uXXXX"},
		{"bad hex", "a=\\u12g4", "line 1: malformed"},
		{"bad escape in key", "\\uzzzz=1", "line 1: malformed"},
		{"too large", strings.Repeat("#", MaxPropertiesBytes+1), "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseProperties(strings.NewReader(tc.in))
			if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want ErrSyntax containing %q", err, tc.wantMsg)
			}
		})
	}
}

func TestFormatProperties_RoundTrip(t *testing.T) {
	m := map[string]string{
		"plain":         "value",
		"":              "empty key",
		" lead key":     " lead and trail \t",
		"a=b:c":         "x=y:z",
		"#comment-like": "!bang",
		"!bang":         "#hash",
		"tab\tkey":      "multi\nline\r\nvalue",
		"back\\slash":   "ends with \\",
		"unicode":       "é😀",
		"empty":         "",
		"blanks":        "   ",
		"form\ffeed":    "\f",
	}
	got, err := ParseProperties(strings.NewReader(string(FormatProperties(m))))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip:\n got %q\nwant %q\nfile:\n%s", got, m, FormatProperties(m))
	}
}

func TestParseOverrides(t *testing.T) {
	got, err := ParseOverrides([]string{"a=1", "b=x=y", "c=", " d =2", "a=3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "3", "b": "x=y", "c": "", "d": "2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"novalue", "=1", " =1"} {
		if _, err := ParseOverrides([]string{bad}); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseOverrides(%q) err = %v, want ErrSyntax", bad, err)
		}
	}
}
