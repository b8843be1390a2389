package fjordtest

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkProblems fails t unless problems match want: one problem per
// entry, each containing its substring, in order.
func checkProblems(t *testing.T, problems []string, want ...string) {
	t.Helper()
	if len(problems) != len(want) {
		t.Fatalf("got %d problem(s), want %d:\n  %s", len(problems), len(want), strings.Join(problems, "\n  "))
	}
	for i, w := range want {
		if !strings.Contains(problems[i], w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, problems[i], w)
		}
	}
}

// fakeBatch encodes a v2 batch header for offsets base..base+count-1 in
// epoch, followed by payload as the records' bytes. Only the fields
// ParseBatches reads are meaningful.
func fakeBatch(base int64, count int32, epoch int32, payload string) []byte {
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(payload))
	binary.BigEndian.PutUint64(b, uint64(base))
	binary.BigEndian.PutUint32(b[batchEpochAt:], uint32(epoch))
	b[batchMagicAt] = 2
	binary.BigEndian.PutUint32(b[batchLastDeltaAt:], uint32(count-1))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[batchLengthAt:], uint32(len(b)-batchOverheadBytes))
	return b
}

func batches(t *testing.T, raw ...[]byte) []Batch {
	t.Helper()
	var all []byte
	for _, r := range raw {
		all = append(all, r...)
	}
	out := ParseBatches(all)
	if len(out) != len(raw) {
		t.Fatalf("parsed %d batches, want %d", len(out), len(raw))
	}
	return out
}

func TestParseBatches_StopsAtTornTail(t *testing.T) {
	b := append(fakeBatch(0, 2, 0, "ab"), fakeBatch(2, 3, 1, "cde")...)
	full := ParseBatches(b)
	if len(full) != 2 || full[1].BaseOffset != 2 || full[1].LastOffset != 4 || full[1].LeaderEpoch != 1 {
		t.Fatalf("parsed %+v", full)
	}
	for cut := 1; cut < len(b)-len(full[0].Bytes); cut++ {
		torn := b[:len(full[0].Bytes)+cut]
		if got := ParseBatches(torn); len(got) != 1 {
			t.Fatalf("cut %d: parsed %d batches, want the whole first one only", cut, len(got))
		}
	}
	// A real batch encoded by franz-go's kmsg parses too.
	rb := kmsg.RecordBatch{FirstOffset: 7, PartitionLeaderEpoch: 3, Magic: 2, LastOffsetDelta: 1, NumRecords: 2}
	rb.Length = int32(len(rb.AppendTo(nil)) - batchOverheadBytes)
	enc := rb.AppendTo(nil)
	got := ParseBatches(enc)
	if len(got) != 1 || got[0].BaseOffset != 7 || got[0].LastOffset != 8 || got[0].LeaderEpoch != 3 || len(got[0].Bytes) != len(enc) {
		t.Fatalf("kmsg batch parsed as %+v", got)
	}
}

func TestReadPartitionDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("00000000000000000002.log", append(fakeBatch(2, 1, 1, "c"), 0, 0, 0)) // torn tail
	write("00000000000000000000.log", append(fakeBatch(0, 1, 0, "a"), fakeBatch(1, 1, 0, "b")...))
	write("00000000000000000000.index", []byte("not a log"))
	write("00000000000000000001.log.cleaned", fakeBatch(9, 1, 0, "x"))
	got, err := ReadPartitionDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for _, b := range got {
		offs = append(offs, b.BaseOffset)
	}
	if !slices.Equal(offs, []int64{0, 1, 2}) {
		t.Fatalf("read offsets %v, want [0 1 2]", offs)
	}
	if got, err := ReadPartitionDir(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Fatalf("missing folder: %v, %v", got, err)
	}
}

func TestCheckReplicas(t *testing.T) {
	a0, a1, a2 := fakeBatch(0, 2, 0, "aa"), fakeBatch(2, 2, 0, "bb"), fakeBatch(4, 1, 1, "c")
	good := func() map[int32][]Batch {
		return map[int32][]Batch{
			1: batches(t, a0, a1, a2),
			2: batches(t, a0, a1, a2),
			3: batches(t, a0, a1, a2),
		}
	}
	flipped := append([]byte(nil), a1...)
	flipped[len(flipped)-1] ^= 0xff
	tests := []struct {
		name string
		logs map[int32][]Batch
		isr  []int32
		hw   int64
		want []string
	}{
		{name: "identical", logs: good(), isr: []int32{1, 2, 3}, hw: 5},
		{name: "empty", logs: map[int32][]Batch{1: nil, 2: nil}, isr: []int32{1, 2}, hw: 0},
		{
			name: "follower behind but not in sync",
			logs: func() map[int32][]Batch { l := good(); l[3] = l[3][:1]; return l }(),
			isr:  []int32{1, 2}, hw: 5,
		},
		{
			name: "divergent tail of an old epoch outside the ISR",
			logs: func() map[int32][]Batch {
				l := good()
				l[3] = batches(t, a0, a1, fakeBatch(4, 3, 0, "old leader's tail"))
				return l
			}(),
			isr: []int32{1, 2}, hw: 5,
		},
		{
			name: "in-sync replicas differ above the high watermark only",
			logs: func() map[int32][]Batch {
				l := good()
				l[1] = batches(t, a0, a1, a2, fakeBatch(5, 1, 1, "d"))
				return l
			}(),
			isr: []int32{1, 2, 3}, hw: 5,
		},
		{
			name: "in-sync replica differs below the high watermark",
			logs: func() map[int32][]Batch { l := good(); l[2] = batches(t, a0, flipped, a2); return l }(),
			isr:  []int32{1, 2, 3}, hw: 5,
			want: []string{
				"replicas 1 and 2 hold different batches at offset 2 in leader epoch 0",
				"in-sync replicas 1 and 2 differ below the high watermark 5: batch 1",
			},
		},
		{
			name: "in-sync replica short of the high watermark",
			logs: func() map[int32][]Batch { l := good(); l[3] = l[3][:2]; return l }(),
			isr:  []int32{1, 2, 3}, hw: 5,
			want: []string{
				"in-sync replica 3 holds offsets only up to 4, below the high watermark 5",
				"in-sync replicas 1 and 3 differ below the high watermark 5: the second ends before offset 4",
			},
		},
		{
			name: "in-sync replica without a log",
			logs: map[int32][]Batch{1: batches(t, a0)}, isr: []int32{1, 2}, hw: 2,
			want: []string{"in-sync replica 2 has no log"},
		},
		{
			name: "two leaders wrote at one offset in one epoch (outside the ISR)",
			logs: func() map[int32][]Batch {
				l := good()
				l[3] = batches(t, a0, a1, fakeBatch(4, 1, 1, "other leader"))
				return l
			}(),
			isr: []int32{1, 2}, hw: 5,
			want: []string{"replicas 1 and 3 hold different batches at offset 4 in leader epoch 1"},
		},
		{
			name: "one epoch starts at two offsets",
			logs: func() map[int32][]Batch {
				l := good()
				l[3] = batches(t, a0, fakeBatch(2, 1, 1, "x"))
				return l
			}(),
			isr: []int32{1, 2}, hw: 5,
			want: []string{"leader epoch 1 starts at offset 4 on replica 1 but at 2 on replica 3"},
		},
		{
			// The same producer batch written by the old leader (epoch 0)
			// and, retried, by the new one (epoch 1); replica 3 kept the
			// old leader's copy instead of truncating it.
			name: "same records stamped with another epoch",
			logs: func() map[int32][]Batch {
				l := good()
				l[3] = batches(t, a0, a1, fakeBatch(4, 1, 0, "c"), fakeBatch(5, 1, 1, "d"))
				return l
			}(),
			isr: []int32{1, 2, 3}, hw: 5,
			want: []string{
				"leader epoch 1 starts at offset 4 on replica 1 but at 5 on replica 3 (at offset 4: " + EpochStampOnly + ")",
				"in-sync replicas 1 and 3 differ below the high watermark 5: batch 2: offsets 4-4 epoch 1 (62 bytes) vs offsets 4-4 epoch 0 (62 bytes) (" + EpochStampOnly + ")",
			},
		},
		{
			name: "epoch goes back",
			logs: map[int32][]Batch{1: batches(t, fakeBatch(0, 1, 2, "a"), fakeBatch(1, 1, 1, "b"))},
			isr:  []int32{1}, hw: 2,
			want: []string{"replica 1: batch at offset 1 has leader epoch 1 after epoch 2"},
		},
		{
			name: "offsets go back",
			logs: map[int32][]Batch{1: batches(t, fakeBatch(0, 3, 0, "a"), fakeBatch(2, 1, 0, "b"))},
			isr:  []int32{1}, hw: 3,
			want: []string{"replica 1: batch at offset 2 follows a batch ending at 2"},
		},
		{
			name: "batch straddles the high watermark",
			logs: map[int32][]Batch{1: batches(t, fakeBatch(0, 4, 0, "a"))},
			isr:  []int32{1}, hw: 2,
			want: []string{"in-sync replica 1: batch 0-3 straddles the high watermark 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := CheckReplicas(ReplicaSet{Partition: "t/0", Logs: tt.logs, ISR: tt.isr, HighWatermark: tt.hw})
			checkProblems(t, problems, tt.want...)
		})
	}
}

func TestPollLog(t *testing.T) {
	r := func(p int32, off int64) *kgo.Record { return &kgo.Record{Topic: "t", Partition: p, Offset: off} }
	t.Run("monotonic", func(t *testing.T) {
		l := NewPollLog()
		l.Record("m", 1, []*kgo.Record{r(0, 0), r(1, 0), r(0, 1)})
		l.Record("m", 1, []*kgo.Record{r(0, 5), r(1, 1)})
		// A new generation may restart from the committed offset.
		l.Record("m", 2, []*kgo.Record{r(0, 3), r(0, 4)})
		// So may another member.
		l.Record("n", 2, []*kgo.Record{r(1, 0)})
		checkProblems(t, l.Check())
		if l.Polled() != 8 || l.Generations() != 3 {
			t.Errorf("polled %d in %d generations, want 8 in 3", l.Polled(), l.Generations())
		}
	})
	t.Run("backward within a generation", func(t *testing.T) {
		l := NewPollLog()
		l.Record("m", 1, []*kgo.Record{r(0, 10), r(0, 11)})
		l.Record("m", 1, []*kgo.Record{r(0, 4)})
		checkProblems(t, l.Check(), "t/0: member m generation 1 polled offset 4 after offset 11")
	})
	t.Run("same offset twice", func(t *testing.T) {
		l := NewPollLog()
		l.Record("m", 1, []*kgo.Record{r(0, 10), r(0, 10)})
		checkProblems(t, l.Check(), "polled offset 10 after offset 10")
	})
}

func TestLeaderEpochs(t *testing.T) {
	t.Run("agreeing", func(t *testing.T) {
		e := NewLeaderEpochs()
		e.Observe("a", "t", 0, 1, 2)
		e.Observe("b", "t", 0, 1, 2)
		e.Observe("a", "t", 0, 2, 3)
		e.Observe("a", "t", 1, 1, 3) // another partition
		e.Observe("c", "t", 0, 1, -1)
		e.Observe("c", "t", 0, -1, 1)
		checkProblems(t, e.Check())
		if n, _ := e.Epochs(); n != 3 {
			t.Errorf("%d epochs, want 3", n)
		}
	})
	t.Run("two leaders in one epoch", func(t *testing.T) {
		e := NewLeaderEpochs()
		e.Observe("a", "t", 0, 1, 2)
		e.Observe("b", "t", 0, 1, 3)
		checkProblems(t, e.Check(), "t/0 leader epoch 1: leader 2 (per a) and leader 3 (per b)")
	})
	t.Run("from metadata", func(t *testing.T) {
		e := NewLeaderEpochs()
		resp := kmsg.NewPtrMetadataResponse()
		tp := kmsg.NewMetadataResponseTopic()
		tp.Topic = kmsg.StringPtr("t")
		for _, leader := range []int32{1, 2} {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition, p.LeaderEpoch, p.Leader = 0, 4, leader
			tp.Partitions = append(tp.Partitions, p)
		}
		resp.Topics = append(resp.Topics, tp)
		e.ObserveMetadata("x", resp)
		checkProblems(t, e.Check(), "t/0 leader epoch 4: leader 1")
	})
}

func TestCheckDuplicates(t *testing.T) {
	got := []Record{rec("a", 0, 0, "k", "v0"), rec("a", 0, 1, "k", "v1"), rec("a", 1, 0, "k", "v0")}
	checkProblems(t, CheckDuplicates(got))
	got = append(got, rec("a", 0, 2, "k", "v0"))
	checkProblems(t, CheckDuplicates(got), "a/0 offset 2: duplicates the record at offset 0")

	l := NewLedger()
	l.Ack(got[0])
	ft := &fakeTB{TB: t}
	l.VerifyExactlyOnce(ft, got)
	if len(ft.errors) == 0 {
		t.Error("VerifyExactlyOnce passed a duplicate")
	}
}

func TestKeptTails(t *testing.T) {
	a0, a1 := fakeBatch(0, 2, 0, "aa"), fakeBatch(2, 2, 0, "bb")
	logs := map[int32][]Batch{
		1: batches(t, a0, a1, fakeBatch(4, 1, 2, "new"), fakeBatch(5, 2, 2, "more")),
		2: batches(t, a0, a1, fakeBatch(4, 1, 2, "new"), fakeBatch(5, 2, 2, "more")),
		// Kept the tail it wrote as leader of epoch 1.
		3: batches(t, a0, a1, fakeBatch(4, 1, 1, "tail"), fakeBatch(5, 2, 2, "more")),
	}
	got := KeptTails(ReplicaSet{Partition: "t/0", Logs: logs})
	want := []TailRange{{Replica: 3, From: 4, To: 4}}
	if !slices.Equal(got, want) {
		t.Errorf("KeptTails = %+v, want %+v", got, want)
	}
	if !got[0].Contains(4) || got[0].Contains(5) || got[0].Contains(3) {
		t.Errorf("Contains is wrong for %+v", got[0])
	}
	delete(logs, 3)
	if got := KeptTails(ReplicaSet{Partition: "t/0", Logs: logs}); len(got) != 0 {
		t.Errorf("agreeing replicas: KeptTails = %+v, want none", got)
	}
	// A replica that only lags behind keeps nothing.
	logs[3] = batches(t, a0)
	if got := KeptTails(ReplicaSet{Partition: "t/0", Logs: logs}); len(got) != 0 {
		t.Errorf("lagging replica: KeptTails = %+v, want none", got)
	}
}
