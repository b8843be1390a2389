package metadata

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenSnapshot feeds arbitrary bytes as the metadata snapshot file.
// Invariants: Open never panics; when it succeeds, every topic is findable
// by name and by ID and the image can be persisted and reopened unchanged.
func FuzzOpenSnapshot(f *testing.F) {
	f.Add([]byte(`{"version":1,"cluster_id":"abc","next_producer_id":1000,"topics":[{"name":"t","partitions":[{"index":0,"leader":1,"leader_epoch":0,"replicas":[1],"isr":[1]}],"id":"AAAAAAAAAAAAAAAAAAAAAQ"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"topics":[{"name":"x","id":"bad"}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SnapshotFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, "")
		if err != nil {
			return
		}
		img := s.Image()
		for _, n := range img.TopicNames() {
			tp := img.Topic(n)
			if tp == nil || img.TopicByID(tp.ID) == nil {
				t.Fatalf("topic %q not indexed", n)
			}
		}
		if err := s.Update(func(*Mutation) error { return nil }); err != nil {
			t.Fatalf("re-persisting a loaded image: %v", err)
		}
		s2, err := Open(dir, "")
		if err != nil {
			t.Fatalf("reopening a persisted image: %v", err)
		}
		if got, want := len(s2.Image().TopicNames()), len(img.TopicNames()); got != want {
			t.Fatalf("%d topics after reopen, want %d", got, want)
		}
	})
}
