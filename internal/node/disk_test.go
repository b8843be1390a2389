package node

import (
	"log/slog"
	"testing"

	"github.com/fjordstream/fjord/internal/partition"
)

// The statfs measurement gives the data folder's file system as df does
// (used over used plus available) and no partitions on an empty broker.
func TestStatfsUsage_EmptyBroker(t *testing.T) {
	dir := t.TempDir()
	m := partition.NewManager(partition.ManagerConfig{Dir: dir}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	r, err := statfsUsage{dir: dir, parts: m}.DiskReport()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dirs) != 1 || r.Dirs[0].Dir != dir || len(r.Largest) != 0 || r.Dirs[0].LogBytes != 0 {
		t.Fatalf("report %+v", r)
	}
	d := r.Dirs[0]
	if d.TotalBytes <= 0 || d.UsedBytes < 0 || d.UsedBytes > d.TotalBytes {
		t.Fatalf("file system %+v", d)
	}
	t.Logf("%s: %.1f%% used", dir, 100*float64(d.UsedBytes)/float64(d.TotalBytes))
	if _, err := (statfsUsage{dir: dir + "/missing", parts: m}).DiskReport(); err == nil {
		t.Fatal("statfs of a missing folder succeeded")
	}
}
