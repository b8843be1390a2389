package server_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceSizes produces one record per size to partition p, uncompressed
// and unlingered so batch sizes follow record sizes, and returns them.
func produceSizes(t *testing.T, cl *kgo.Client, topic string, p int32, sizes []int) []*kgo.Record {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(p), 7))
	recs := make([]*kgo.Record, len(sizes))
	for i, n := range sizes {
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		recs[i] = &kgo.Record{Topic: topic, Partition: p, Key: []byte(fmt.Sprintf("p%d-%d", p, i)), Value: v,
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}}}
	}
	ctx := testCtx(t)
	// In slices, so the batches mix small and large records.
	for start := 0; start < len(recs); start += 25 {
		if err := cl.ProduceSync(ctx, recs[start:min(start+25, len(recs))]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// mixedSizes returns record sizes from tiny to above the sendfile
// threshold, about total bytes in all.
func mixedSizes(seed uint64, total int) []int {
	rng := rand.New(rand.NewPCG(seed, 1))
	choices := []int{0, 10, 100, 1000, 5000, 17 << 10, 40 << 10, 200 << 10}
	var out []int
	for sum := 0; sum < total; {
		n := choices[rng.IntN(len(choices))]
		out = append(out, n)
		sum += n
	}
	return out
}

// TestFetch_LargeAcrossSegments consumes several MB from many small
// segments with franz-go, with roomy and with tiny partition limits (the
// first batch then always comes whole, KIP-74), and compares every record
// byte for byte.
func TestFetch_LargeAcrossSegments(t *testing.T) {
	n := startNode(t, t.TempDir())
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(0))
	ctx := testCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": kadm.StringPtr("262144")}, "big"); err != nil {
		t.Fatal(err)
	}
	sent := map[int32][]*kgo.Record{}
	for p := range int32(2) {
		sent[p] = produceSizes(t, cl, "big", p, mixedSizes(uint64(p), 3<<20))
	}
	for _, c := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"default limits", nil},
		{"tiny partition limit", []kgo.Opt{kgo.FetchMaxPartitionBytes(1000), kgo.FetchMaxBytes(3000)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			total := len(sent[0]) + len(sent[1])
			cons, _ := newClient(t, n.Addr(), append([]kgo.Opt{kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, c.opts...)...)
			got := map[int32][]*kgo.Record{}
			for n := 0; n < total; {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consumed %d of %d: %v", n, total, err)
				}
				fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
				fs.EachRecord(func(r *kgo.Record) {
					got[r.Partition] = append(got[r.Partition], r)
					n++
				})
			}
			for p, want := range sent {
				if len(got[p]) != len(want) {
					t.Fatalf("partition %d: %d records, want %d", p, len(got[p]), len(want))
				}
				for i, r := range got[p] {
					w := want[i]
					if r.Offset != int64(i) || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || string(r.Headers[0].Value) != fmt.Sprint(i) {
						t.Fatalf("partition %d record %d differs (offset %d, %d bytes, want %d)", p, i, r.Offset, len(r.Value), len(w.Value))
					}
				}
			}
		})
	}
}

// TestFetch_RawEveryVersion fetches the same data with every Fetch
// version Fjord serves on a hand-driven connection: the frames decode with
// kmsg, carry identical record batches in every version (sendfile and copy
// paths alike), and a partition with nothing to return has an empty, not
// null, record set.
func TestFetch_RawEveryVersion(t *testing.T) {
	n := startNode(t, t.TempDir())
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	ctx := testCtx(t)
	res, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")}, "raw")
	if err != nil {
		t.Fatal(err)
	}
	produceSizes(t, cl, "raw", 0, mixedSizes(9, 600<<10))
	c := dialRaw(t, n.Addr())
	var first []byte
	for v := int16(4); v <= 18; v++ {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = v, -1, 50<<20, 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "raw", res.ID
		for p := range int32(2) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, 10<<20, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		c.send(req, int32(v))
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = v
		if corr := c.recv(resp); corr != int32(v) {
			t.Fatalf("v%d: correlation %d", v, corr)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d: response shape %+v", v, resp.Topics)
		}
		data, empty := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
		if data.ErrorCode != 0 || empty.ErrorCode != 0 {
			t.Fatalf("v%d: errors %d %d", v, data.ErrorCode, empty.ErrorCode)
		}
		if empty.RecordBatches == nil || len(empty.RecordBatches) != 0 {
			t.Fatalf("v%d: empty partition's record set is %v (null or not empty)", v, empty.RecordBatches)
		}
		if first == nil {
			first = data.RecordBatches
			checkBatches(t, first, data.HighWatermark)
		} else if !bytes.Equal(data.RecordBatches, first) {
			t.Fatalf("v%d: %d bytes of batches differ from v4's %d", v, len(data.RecordBatches), len(first))
		}
	}
}

// checkBatches checks that b is whole batches from offset 0 up to hw, each
// with a good CRC.
func checkBatches(t *testing.T, b []byte, hw int64) {
	t.Helper()
	next := int64(0)
	for len(b) > 0 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatalf("batch at offset %d: %v", next, err)
		}
		size := 12 + int(rb.Length)
		if rb.FirstOffset != next || size > len(b) {
			t.Fatalf("batch at %d has offset %d, %d bytes of %d", next, rb.FirstOffset, size, len(b))
		}
		raw := append([]byte(nil), b[:size]...)
		rb.CRC = 0
		if got := rb.AppendTo(nil); !bytes.Equal(got[:17], raw[:17]) || len(got) != size {
			t.Fatalf("batch at %d does not re-encode to itself", next)
		}
		next += int64(rb.LastOffsetDelta) + 1
		b = b[size:]
	}
	if next != hw {
		t.Fatalf("batches end at %d, high watermark %d", next, hw)
	}
}

// dataDirFiles lists this process's open files under dir, as the kernel
// names them (an unlinked file ends in " (deleted)"). Linux only.
func dataDirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir) {
			out = append(out, target)
		}
	}
	return out
}

// waitFor polls cond until it holds or 20s pass (a bound on a hang, not
// a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFetch_PinsOutliveDeletionAndConnection: a fetch response stuck in a
// socket nobody reads keeps its segment files open after DeleteRecords
// unlinked them; once the connection dies the files are closed, and after
// the node closes nothing under its data folder is open.
func TestFetch_PinsOutliveDeletionAndConnection(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files through /proc/self/fd")
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, dir)
	cl, adm := newClient(t, n.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(0))
	ctx := testCtx(t)
	// One big segment: a fetch reads from one segment, and the response
	// must outgrow the loopback socket buffers to stall.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "pin"); err != nil {
		t.Fatal(err)
	}
	sizes := make([]int, 96)
	for i := range sizes {
		sizes[i] = 200 << 10 // about 19 MB: more than loopback buffers hold
	}
	produceSizes(t, cl, "pin", 0, sizes)

	// A reader that never reads: the writer blocks mid-response.
	c := dialRaw(t, n.Addr())
	_ = c.nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = 12, -1, 64<<20, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "pin"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 64<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.send(req, 1)
	// The fetch runs on its own connection, so wait until its response has
	// started (and so pinned the segment) before deleting: otherwise
	// DeleteRecords may win and the fetch answers OFFSET_OUT_OF_RANGE.
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		t.Fatalf("reading the fetch response size: %v", err)
	}
	if n := binary.BigEndian.Uint32(size[:]); n < 16<<20 {
		t.Fatalf("fetch response is %d bytes, want the whole ~19 MB segment", n)
	}

	end, err := adm.ListEndOffsets(ctx, "pin")
	if err != nil {
		t.Fatal(err)
	}
	eo, _ := end.Lookup("pin", 0)
	// Retention rolls and unlinks the pinned segment; only the pin keeps
	// it open.
	del, err := adm.DeleteRecords(ctx, kadm.Offsets{"pin": {0: kadm.Offset{At: eo.Offset}}})
	if err != nil || del.Error() != nil {
		t.Fatal(err, del.Error())
	}
	deleted := func() int {
		k := 0
		for _, f := range dataDirFiles(t, dir) {
			if strings.HasSuffix(f, "(deleted)") {
				k++
			}
		}
		return k
	}
	waitFor(t, "an unlinked segment held open by the stalled response", func() bool { return deleted() > 0 })
	c.nc.Close()
	waitFor(t, "the pinned segment to be closed after the connection died", func() bool { return deleted() == 0 })
	cl.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if open := dataDirFiles(t, dir); len(open) > 0 {
		t.Fatalf("files still open after Close: %v", open)
	}
}
