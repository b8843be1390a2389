package file

import (
	"os"
	"path/filepath"
	"testing"
)

// A fragment a killed worker left at the end of the sink's file is cut
// before the restarted task appends.
func TestCutPartialLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a\nb\n", "a\nb\n"},
		{"a\nb\nli", "a\nb\n"},
		{"frag", ""},
		{"", ""},
	} {
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, []byte(c.in), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cutPartialLine(p); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}
