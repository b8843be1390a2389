package fjord_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord"
)

// untar extracts a gzipped tar into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A data folder written by the standalone release before the metadata log
// (metadata in __cluster_metadata-0/metadata.json) opens with its topics,
// configs, records and committed offsets intact. The folder was made by
// that release: topic "legacy" (2 partitions, retention.ms=86400000), ten
// keyed records k0..k9 alternating between the partitions, and group
// "legacy-group" with offsets 3 and 4 committed.
func TestLegacyStandaloneFolderOpens(t *testing.T) {
	dir := t.TempDir()
	untar(t, filepath.Join("testdata", "standalone-legacy.tgz"), dir)
	for round := range 2 { // the second start opens the migrated folder
		n, err := fjord.NewNode(fjord.WithDataDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := n.Start(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("legacy"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		td, err := adm.ListTopics(ctx, "legacy")
		if err != nil || len(td["legacy"].Partitions) != 2 {
			t.Fatalf("round %d: topic legacy: %+v %v", round, td, err)
		}
		cfgs, err := adm.DescribeTopicConfigs(ctx, "legacy")
		if err != nil {
			t.Fatal(err)
		}
		if c, err := cfgs.On("legacy", nil); err != nil || !hasConfig(c.Configs, "retention.ms", "86400000") {
			t.Fatalf("round %d: configs of legacy: %+v %v", round, c, err)
		}
		got := map[string]string{}
		for len(got) < 10 && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
		}
		for i := range 10 {
			k := "k" + string(rune('0'+i))
			if got[k] != "v"+string(rune('0'+i)) {
				t.Fatalf("round %d: record %s = %q (read %d records)", round, k, got[k], len(got))
			}
		}
		offs, err := adm.FetchOffsets(ctx, "legacy-group")
		if err != nil {
			t.Fatal(err)
		}
		if o0, _ := offs.Lookup("legacy", 0); o0.At != 3 {
			t.Fatalf("round %d: committed offset of partition 0 is %d, want 3", round, o0.At)
		}
		if o1, _ := offs.Lookup("legacy", 1); o1.At != 4 {
			t.Fatalf("round %d: committed offset of partition 1 is %d, want 4", round, o1.At)
		}
		// Producer IDs continue past the legacy counter (1001).
		pcl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic("legacy"))
		if err != nil {
			t.Fatal(err)
		}
		if err := pcl.ProduceSync(ctx, &kgo.Record{Key: []byte("new")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if id, _, err := pcl.ProducerID(ctx); err != nil || id < 1001 {
			t.Fatalf("round %d: producer ID %d (%v) reuses the legacy range", round, id, err)
		}
		pcl.Close()
		cl.Close()
		cancel()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "__cluster_metadata-0", "metadata.json.migrated")); err != nil {
		t.Fatalf("legacy image not kept aside after migration: %v", err)
	}
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}
