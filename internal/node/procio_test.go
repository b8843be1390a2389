package node

import (
	"fmt"
	"testing"
)

// /proc/self/io as Linux writes it: read_bytes and write_bytes are the
// storage-layer counts (rchar and wchar count every read and write call).
func TestParseProcIO(t *testing.T) {
	const sample = "rchar: 323934931\nwchar: 323929600\nsyscr: 632687\nsyscw: 632675\nread_bytes: 4096\nwrite_bytes: 323932160\ncancelled_write_bytes: 0\n"
	r, w, ok := parseProcIO([]byte(sample))
	if !ok || r != 4096 || w != 323932160 {
		t.Fatalf("got %d %d %v", r, w, ok)
	}
	for _, bad := range []string{"", "read_bytes: 1\n", "write_bytes: x\nread_bytes: 2\n"} {
		if _, _, ok := parseProcIO([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseProcIO(f *testing.F) {
	f.Add([]byte("read_bytes: 1\nwrite_bytes: 2\n"))
	f.Add([]byte("read_bytes:\nwrite_bytes: -1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, w, ok := parseProcIO(b)
		if !ok {
			return
		}
		// What was parsed, written back, parses the same.
		r2, w2, ok2 := parseProcIO(fmt.Appendf(nil, "read_bytes: %d\nwrite_bytes: %d\n", r, w))
		if !ok2 || r2 != r || w2 != w {
			t.Fatalf("%d %d parsed back as %d %d %v", r, w, r2, w2, ok2)
		}
	})
}
