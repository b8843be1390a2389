package log

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fjordstream/fjord/internal/record"
)

// TestGolden_OnDiskFormat pins the bytes of every file a closed log
// leaves: segments, offset and time indexes, log-checkpoint and
// leader-epoch-checkpoint. Rewrite testdata/golden/log.txt with
// FJORD_UPDATE_GOLDEN=1 after an intended format change.
func TestGolden_OnDiskFormat(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300
	cfg.IndexIntervalBytes = 100
	e := newEnv(t, cfg)
	l := e.open()
	for i := range 6 {
		recs := []record.Record{{Key: []byte{byte('a' + i)}, Value: []byte("value")}, {OffsetDelta: 1, TimestampDelta: 7, Value: []byte("v2")}}
		b := record.Build(recs, record.BuildOptions{BaseTimestamp: int64(1_000 + 100*i)})
		if _, err := l.Append(b, int32(i/2), -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	slices.Sort(names)
	var out strings.Builder
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(e.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "== %s (%d bytes)\n%s", name, len(data), hex.Dump(data))
	}
	golden := filepath.Join("testdata", "golden", "log.txt")
	if os.Getenv("FJORD_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with FJORD_UPDATE_GOLDEN=1 to create it)", err)
	}
	if got := out.String(); got != string(want) {
		t.Fatalf("on-disk bytes changed; diff against %s:\n%s", golden, got)
	}
}
