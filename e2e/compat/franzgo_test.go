package compat

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fjordstream/fjord/internal/fjordtest"
)

// restartableBroker is a broker a test can restart between produce and
// consume: an embedded node or a process.
type restartableBroker interface {
	Addr() string
	Restart(t testing.TB)
}

// codecs are the record batch compression codecs Kafka defines.
var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

// codecPartitions is the partition count of each codec's topic.
const codecPartitions = 6

// genRecord returns record i of a deterministic stream: keys that are
// sometimes null or empty, values that are sometimes tombstones (null),
// empty, compressible or random, and zero to two headers. Partitions are
// assigned round-robin so every partition gets records.
func genRecord(rng *rand.Rand, topic string, i int) *kgo.Record {
	r := &kgo.Record{Topic: topic, Partition: int32(i % codecPartitions)}
	switch k := rng.IntN(20); {
	case k == 0: // null key
	case k == 1:
		r.Key = []byte{}
	default:
		r.Key = fmt.Appendf(nil, "key-%d-%d", i, rng.IntN(1000))
	}
	switch v := rng.IntN(40); {
	case v == 0: // tombstone
	case v == 1:
		r.Value = []byte{}
	default:
		n := rng.IntN(200)
		r.Value = make([]byte, n)
		for j := range r.Value {
			if j < n/2 {
				r.Value[j] = byte('a' + j%7) // compressible half
			} else {
				r.Value[j] = byte(rng.Uint32())
			}
		}
	}
	for h := range rng.IntN(3) {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: fmt.Sprintf("h%d", h), Value: fmt.Appendf(nil, "%d", rng.Uint64())})
	}
	return r
}

// produceRecords writes n generated records to topic (which it creates with
// codecPartitions partitions) using codec, waits for every acknowledgement,
// and returns the ledger of what was acknowledged. Any produce error fails t.
func produceRecords(t *testing.T, addr, topic string, codec kgo.CompressionCodec, n int, seed uint64) *fjordtest.Ledger {
	t.Helper()
	createTopic(t, addr, topic, codecPartitions)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ledger := fjordtest.NewLedger()
	var failed atomic.Int64
	var firstErr atomic.Value
	rng := rand.New(rand.NewPCG(seed, uint64(len(topic))))
	c := ctx(t)
	for i := range n {
		cl.Produce(c, genRecord(rng, topic, i), func(r *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			ledger.Ack(fjordtest.FromKgo(r))
		})
	}
	if err := cl.Flush(c); err != nil {
		t.Fatalf("flush %s: %v", topic, err)
	}
	if f := failed.Load(); f > 0 {
		t.Fatalf("%s: %d of %d produces failed, first: %v", topic, f, n, firstErr.Load())
	}
	return ledger
}

// consumeRecords reads topic from the start until it has want records.
func consumeRecords(t *testing.T, addr, topic string, want int) []fjordtest.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := make([]fjordtest.Record, 0, want)
	c := ctx(t)
	for len(got) < want {
		fs := cl.PollFetches(c)
		if c.Err() != nil {
			t.Fatalf("%s: read %d of %d records before %v", topic, len(got), want, c.Err())
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Errorf("fetch %s/%d: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { got = append(got, fjordtest.FromKgo(r)) })
	}
	return got
}

// checkReadBack verifies got against the ledger, and that each partition
// holds exactly the acknowledged records at offsets 0, 1, 2, ... (no
// duplicates, no gaps: the producer is idempotent and nothing failed).
func checkReadBack(t *testing.T, topic string, ledger *fjordtest.Ledger, got []fjordtest.Record) {
	t.Helper()
	ledger.Verify(t, got)
	if len(got) != ledger.Len() {
		t.Errorf("%s: read %d records, %d acknowledged", topic, len(got), ledger.Len())
	}
	next := make([]int64, codecPartitions)
	for _, r := range got {
		if r.Partition < 0 || int(r.Partition) >= codecPartitions {
			t.Fatalf("%s: record from partition %d", topic, r.Partition)
		}
		if r.Offset != next[r.Partition] {
			t.Fatalf("%s/%d: offset %d, want %d (dense offsets from 0)", topic, r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
	}
	if slices.Contains(next, 0) {
		t.Errorf("%s: a partition received no records: %v", topic, next)
	}
}

// roundTripCodecs produces perCodec records with each codec into its own
// topic, restarts the broker, and reads everything back.
func roundTripCodecs(t *testing.T, b restartableBroker, perCodec int) {
	seed := rand.Uint64()
	t.Logf("record seed %d", seed)
	ledgers := make([]*fjordtest.Ledger, len(codecs))
	for i, c := range codecs {
		ledgers[i] = produceRecords(t, b.Addr(), "codec-"+c.name, c.codec, perCodec, seed)
	}
	b.Restart(t)
	for i, c := range codecs {
		topic := "codec-" + c.name
		checkReadBack(t, topic, ledgers[i], consumeRecords(t, b.Addr(), topic, perCodec))
		ledgers[i] = nil // let the memory go before the next codec
	}
}

// TestFranzGo_CodecsRoundTripEmbedded: 100k records per codec through an
// embedded node, which is closed and reopened on its data directory between
// produce and consume.
func TestFranzGo_CodecsRoundTripEmbedded(t *testing.T) {
	roundTripCodecs(t, startEmbedded(t), 100_000)
}

// TestFranzGo_CodecsRoundTripProcess: the same through a `fjord server`
// process restarted (SIGTERM, start) between produce and consume.
func TestFranzGo_CodecsRoundTripProcess(t *testing.T) {
	roundTripCodecs(t, startBroker(t), 10_000)
}
