package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompaction_CleanerKeepsNewestPerKey runs the node's cleaner on a
// compacted topic and checks what a consumer then reads: at most the newest
// record per key below the cleaned point, every key's newest value intact,
// offsets increasing.
func TestCompaction_CleanerKeepsNewestPerKey(t *testing.T) {
	n := startNode(t, t.TempDir(), "log.cleaner.backoff.ms", "50")
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testCtx(t)
	_, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("4096"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("86400000"),
	}, "compacted")
	if err != nil {
		t.Fatal(err)
	}
	newest := map[string]string{}
	const total = 600
	for i := 0; i < total; i++ {
		k, v := fmt.Sprintf("key-%d", i%10), fmt.Sprintf("value-%d", i)
		newest[k] = v
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		end, _ := adm.ListEndOffsets(ctx, "compacted")
		o, _ := end.Lookup("compacted", 0)
		all := consumeUntil(t, n.Addr(), "compacted", o.Offset)
		if len(all) < total {
			last := map[string]string{}
			prev := int64(-1)
			for _, r := range all {
				if r.Offset <= prev {
					t.Fatalf("offsets not increasing: %d after %d", r.Offset, prev)
				}
				prev = r.Offset
				last[string(r.Key)] = string(r.Value)
			}
			for k, v := range newest {
				if last[k] != v {
					t.Fatalf("key %s: newest value %q, want %q", k, last[k], v)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cleaner did not compact %d records within 30s", len(all))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumeUntil reads a single-partition topic from the start up to end.
func consumeUntil(t *testing.T, addr, topic string, end int64) []*kgo.Record {
	t.Helper()
	cl, _ := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx := testCtx(t)
	var got []*kgo.Record
	for len(got) == 0 || got[len(got)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed up to %d of %d: %v", len(got), end, err)
		}
		got = append(got, fs.Records()...)
	}
	return got
}
