package protocol

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// splice inserts each cut's record set, taken from resp (whose
// RecordBatches hold them), into frame: what a sender writes.
func splice(frame []byte, cuts []FetchCut, resp *kmsg.FetchResponse) []byte {
	var out []byte
	prev := 0
	for _, c := range cuts {
		out = append(out, frame[prev:c.At]...)
		out = append(out, resp.Topics[c.Topic].Partitions[c.Partition].RecordBatches...)
		prev = c.At
	}
	return append(out, frame[prev:]...)
}

// externalOf returns an external function that sends the record sets of
// the partitions marked in ext from outside, with their lengths in resp.
func externalOf(resp *kmsg.FetchResponse, ext map[[2]int]bool) func(int, int) int64 {
	return func(t, p int) int64 {
		if !ext[[2]int{t, p}] {
			return -1
		}
		return int64(len(resp.Topics[t].Partitions[p].RecordBatches))
	}
}

// drawFetchResponse draws a Fetch response of any version kmsg encodes,
// with the partitions whose record sets go outside the frame.
func drawFetchResponse(t *rapid.T) (*kmsg.FetchResponse, map[[2]int]bool) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = int16(rapid.IntRange(0, 18).Draw(t, "version"))
	resp.ThrottleMillis = rapid.Int32().Draw(t, "throttle")
	resp.ErrorCode = int16(rapid.IntRange(-1, 120).Draw(t, "error"))
	resp.SessionID = rapid.Int32().Draw(t, "session")
	ext := map[[2]int]bool{}
	tags := func(name string, tt *kmsg.Tags) {
		for i := range rapid.IntRange(0, 2).Draw(t, name+"Tags") {
			tt.Set(uint32(10+i+rapid.IntRange(0, 5).Draw(t, name+"Tag")), rapid.SliceOfN(rapid.Byte(), 0, 5).Draw(t, name+"TagValue"))
		}
	}
	rare := func(name string) bool { return rapid.IntRange(0, 4).Draw(t, name) == 0 }
	for ti := range rapid.IntRange(0, 4).Draw(t, "topics") {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = rapid.StringN(0, 20, -1).Draw(t, "topic")
		copy(rt.TopicID[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "topicID"))
		if rare("topicTags") {
			tags("topic", &rt.UnknownTags)
		}
		for pi := range rapid.IntRange(0, 5).Draw(t, "partitions") {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rapid.Int32().Draw(t, "partition")
			p.ErrorCode = int16(rapid.IntRange(0, 120).Draw(t, "partitionError"))
			p.HighWatermark = rapid.Int64().Draw(t, "hw")
			p.LastStableOffset = rapid.Int64().Draw(t, "lso")
			p.LogStartOffset = rapid.Int64().Draw(t, "logStart")
			p.PreferredReadReplica = rapid.Int32Range(-1, 5).Draw(t, "preferred")
			switch rapid.IntRange(0, 2).Draw(t, "aborted") {
			case 0: // nil
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			case 2:
				for range rapid.IntRange(1, 3).Draw(t, "abortedN") {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = rapid.Int64().Draw(t, "pid"), rapid.Int64().Draw(t, "first")
					if rare("abortedTags") {
						tags("aborted", &a.UnknownTags)
					}
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			if rare("diverging") {
				p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = rapid.Int32().Draw(t, "divEpoch"), rapid.Int64().Draw(t, "divEnd")
				if rare("divergingTags") {
					tags("diverging", &p.DivergingEpoch.UnknownTags)
				}
			}
			if rare("leader") {
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = rapid.Int32().Draw(t, "leaderID"), rapid.Int32().Draw(t, "leaderEpoch")
				if rare("leaderTags") {
					tags("leader", &p.CurrentLeader.UnknownTags)
				}
			}
			if rare("snapshot") {
				p.SnapshotID.EndOffset, p.SnapshotID.Epoch = rapid.Int64().Draw(t, "snapEnd"), rapid.Int32().Draw(t, "snapEpoch")
			}
			if rare("snapshotTags") {
				// Tags alone, with default fields: still a non-default
				// struct that kmsg sends.
				tags("snapshot", &p.SnapshotID.UnknownTags)
			}
			if rare("partitionTags") {
				tags("partition", &p.UnknownTags)
			}
			// Record sets from empty to sizes whose compact length needs
			// one, two and three uvarint bytes.
			size := rapid.SampledFrom([]int{0, 1, 61, 126, 127, 128, 200, 16383, 16384, 20000}).Draw(t, "records")
			if ext[[2]int{ti, pi}] = rapid.Bool().Draw(t, "external"); ext[[2]int{ti, pi}] || size > 0 || rapid.Bool().Draw(t, "emptyNotNull") {
				p.RecordBatches = bytes.Repeat([]byte{byte(pi + 1)}, size)
			}
			rt.Partitions = append(rt.Partitions, p)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if rare("brokers") {
		for range rapid.IntRange(1, 2).Draw(t, "brokersN") {
			b := kmsg.NewFetchResponseBroker()
			b.NodeID, b.Host, b.Port = rapid.Int32().Draw(t, "node"), rapid.StringN(0, 10, -1).Draw(t, "host"), rapid.Int32().Draw(t, "port")
			if rapid.Bool().Draw(t, "rack") {
				r := rapid.StringN(0, 5, -1).Draw(t, "rackName")
				b.Rack = &r
			}
			resp.Brokers = append(resp.Brokers, b)
		}
	}
	if rare("responseTags") {
		tags("response", &resp.UnknownTags)
	}
	return resp, ext
}

// TestAppendFetchResponse_MatchesKmsg: for random responses of every
// version, the frame with the external record sets spliced in is byte for
// byte kmsg's encoding of the response holding them.
func TestAppendFetchResponse_MatchesKmsg(t *testing.T) {
	rapid.Check(t, checkFetchEncode)
}

// checkFetchEncode is the property of TestAppendFetchResponse_MatchesKmsg
// and FuzzFetchEncode.
func checkFetchEncode(t *rapid.T) {
	resp, ext := drawFetchResponse(t)
	corr := rapid.Int32().Draw(t, "correlationID")
	want := AppendResponse(nil, corr, resp)
	prefix := []byte("prefix")
	frame, cuts, err := AppendFetchResponse(append([]byte(nil), prefix...), []FetchCut{{At: -1}}, corr, resp, externalOf(resp, ext))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(frame, prefix) || len(cuts) == 0 || cuts[0].At != -1 {
		t.Fatalf("dst or cuts prefix not kept")
	}
	got := splice(frame, cuts[1:], resp)[len(prefix):]
	if !bytes.Equal(got, want) {
		t.Fatalf("v%d frame differs from kmsg:\n got %x\nwant %x", resp.Version, got, want)
	}
	n := 0
	for k, isExt := range ext {
		if isExt && len(resp.Topics[k[0]].Partitions[k[1]].RecordBatches) > 0 {
			n++
		}
	}
	if len(cuts)-1 != n {
		t.Fatalf("%d cuts for %d non-empty external record sets", len(cuts)-1, n)
	}
	for i := 2; i < len(cuts); i++ {
		if cuts[i].At < cuts[i-1].At {
			t.Fatalf("cuts out of frame order: %+v", cuts)
		}
	}
}

// TestAppendFetchResponse_EmptyIsNotNull: an external record set of 0
// bytes is encoded as an empty set in every version (librdkafka and
// kafka-python reject null).
func TestAppendFetchResponse_EmptyIsNotNull(t *testing.T) {
	for v := int16(4); v <= 18; v++ {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = v
		rt := kmsg.NewFetchResponseTopic()
		rt.Partitions = append(rt.Partitions, kmsg.NewFetchResponseTopicPartition())
		resp.Topics = append(resp.Topics, rt)
		frame, cuts, err := AppendFetchResponse(nil, nil, 1, resp, func(int, int) int64 { return 0 })
		if err != nil || len(cuts) != 0 {
			t.Fatalf("v%d: %v, %d cuts", v, err, len(cuts))
		}
		back := kmsg.NewPtrFetchResponse()
		back.Version = v
		body := frame[8:]
		if v >= 12 {
			body = body[1:]
		}
		if err := back.ReadFrom(body); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if rb := back.Topics[0].Partitions[0].RecordBatches; rb == nil {
			t.Fatalf("v%d: record set decoded as null", v)
		}
	}
}

// TestAppendFetchResponse_TooLarge: lengths a frame cannot carry are
// refused, leaving dst and cuts as they were.
func TestAppendFetchResponse_TooLarge(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	rt := kmsg.NewFetchResponseTopic()
	rt.Partitions = append(rt.Partitions, kmsg.NewFetchResponseTopicPartition(), kmsg.NewFetchResponseTopicPartition())
	resp.Topics = append(resp.Topics, rt)
	for _, sizes := range [][2]int64{{math.MaxInt32, 0}, {math.MaxInt32 / 2, math.MaxInt32 / 2}, {math.MaxInt64, 1}} {
		dst, cuts, err := AppendFetchResponse([]byte("x"), nil, 1, resp, func(_, p int) int64 { return sizes[p] })
		if !errors.Is(err, ErrResponseTooLarge) || string(dst) != "x" || len(cuts) != 0 {
			t.Fatalf("sizes %v: %q, %d cuts, %v", sizes, dst, len(cuts), err)
		}
	}
}

// FuzzFetchEncode drives checkFetchEncode with the fuzzer's bytes as the
// source of rapid's draws. Invariants: the encoder never panics, and its
// frame with the record sets spliced in is kmsg's frame.
//
// (Decoding the fuzzer's bytes with kmsg instead would be wider, but
// kmsg's decoder spends seconds on a tagged-field count of 2^32-1 before
// failing, which stalls the fuzzer.)
func FuzzFetchEncode(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Add([]byte{0, 12, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1})
	f.Fuzz(rapid.MakeFuzz(checkFetchEncode))
}
