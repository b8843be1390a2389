package fjordtest

import (
	"strings"
	"testing"
)

func TestOutput_LinesAcrossWrites(t *testing.T) {
	var lines []string
	o := &output{}
	o.setOnLine(func(l string) { lines = append(lines, l) })
	for _, w := range []string{"ab", "c\nde", "f\n\ng", "\n"} {
		if n, err := o.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if got, want := strings.Join(lines, "|"), "abc|def||g"; got != want {
		t.Fatalf("lines %q, want %q", got, want)
	}
	if got, want := o.String(), "abc\ndef\n\ng\n"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestOutput_Bounded(t *testing.T) {
	o := &output{}
	chunk := strings.Repeat("x", 1<<20)
	for range 20 {
		o.Write([]byte(chunk))
	}
	if len(o.line) > lineLimit {
		t.Fatalf("partial line buffer %d bytes, limit %d", len(o.line), lineLimit)
	}
	o.Write([]byte("\nlast line\n"))
	s := o.String()
	if len(s) > outputLimit+100 {
		t.Fatalf("kept %d bytes, limit %d", len(s), outputLimit)
	}
	if !strings.HasPrefix(s, "[... ") || !strings.HasSuffix(s, "last line\n") {
		t.Fatalf("want a drop marker and the newest output; got prefix %q suffix %q", s[:20], s[len(s)-20:])
	}
	if tail := o.tail(100); len(tail) > 200 || !strings.HasSuffix(tail, "last line\n") {
		t.Fatalf("tail(100) = %q", tail)
	}
}
