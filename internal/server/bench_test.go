package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord"
)

// BenchmarkFetch measures the broker's fetch path alone: a raw connection
// fetches 1 MiB per request from a 64 MiB partition of 1 KiB records (in
// 64 KiB or 1 MiB batches) and reads each response frame into a reused
// buffer without decoding the records, so the client costs little beside
// the broker. It reports MB/s of record sets delivered.
func BenchmarkFetch(b *testing.B) {
	for _, batch := range []int{64 << 10, 1 << 20} {
		b.Run(map[int]string{64 << 10: "batch=64KiB", 1 << 20: "batch=1MiB"}[batch], func(b *testing.B) {
			n, err := fjord.NewNode(fjord.WithDataDir(b.TempDir()), fjord.WithConfig("log.flush.interval.messages", "9223372036854775807"))
			if err != nil {
				b.Fatal(err)
			}
			if err := n.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			ctx := context.Background()
			cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(int32(batch)), kgo.ProducerLinger(10*time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "bench"); err != nil {
				b.Fatal(err)
			}
			value := bytes.Repeat([]byte("v"), 1024)
			const records = 64 << 10
			for i := 0; i < records; i += 4096 {
				recs := make([]*kgo.Record, 4096)
				for j := range recs {
					recs[j] = &kgo.Record{Topic: "bench", Value: value}
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					b.Fatal(err)
				}
			}
			nc, err := net.Dial("tcp", n.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			var frame []byte
			var total int64
			off := int64(0)
			corr := int32(0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := kmsg.NewPtrFetchRequest()
				req.Version, req.ReplicaID, req.MaxBytes = 12, -1, 50<<20
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic = "bench"
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = off, 1<<20, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				corr++
				if _, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, corr)); err != nil {
					b.Fatal(err)
				}
				if frame, err = readFrame(nc, frame); err != nil {
					b.Fatal(err)
				}
				resp := kmsg.NewPtrFetchResponse()
				resp.Version = 12
				if err := resp.UnsafeReadFrom(frame[5:]); err != nil {
					b.Fatal(err)
				}
				sets := resp.Topics[0].Partitions[0].RecordBatches
				if len(sets) == 0 {
					b.Fatalf("nothing at offset %d", off)
				}
				total += int64(len(sets))
				off = nextOffset(sets)
				if off >= records {
					off = 0
				}
			}
			b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
		})
	}
}

// readFrame reads one size-prefixed response into buf.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// nextOffset returns the offset after the last whole batch in sets
// (baseOffset at byte 0, batchLength at 8, lastOffsetDelta at 23).
func nextOffset(sets []byte) int64 {
	var next int64
	for len(sets) >= 27 {
		size := 12 + int(binary.BigEndian.Uint32(sets[8:]))
		if size > len(sets) {
			break
		}
		next = int64(binary.BigEndian.Uint64(sets)) + int64(binary.BigEndian.Uint32(sets[23:])) + 1
		sets = sets[size:]
	}
	return next
}
