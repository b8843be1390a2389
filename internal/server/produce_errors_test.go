package server_test

// Error codes as Kafka answers them, checked against Kafka's source
// (issue 8): each test sends the request Kafka answers specially and
// asserts Kafka's code.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/record"
)

// rawSession sends requests on one raw connection, numbering them.
type rawSession struct {
	c    *rawConn
	corr int32
}

func (s *rawSession) do(req kmsg.Request, resp kmsg.Response) {
	s.c.t.Helper()
	s.corr++
	resp.SetVersion(req.GetVersion())
	s.c.send(req, s.corr)
	if corr := s.c.recv(resp); corr != s.corr {
		s.c.t.Fatalf("correlation %d, want %d", corr, s.corr)
	}
}

// produceV sends one Produce of the given version to partition 0 of topic
// and returns the partition's answer.
func (s *rawSession) produceV(version int16, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	s.c.t.Helper()
	req := rawProduce(topic, records)
	req.Version = version
	resp := kmsg.NewPtrProduceResponse()
	s.do(req, resp)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		s.c.t.Fatalf("produce v%d: response shape %+v", version, resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

// fetchV sends a Fetch of partition 0 of topic from offset 0.
func (s *rawSession) fetchV(version int16, topic string, id [16]byte, sessionID, epoch int32) *kmsg.FetchResponse {
	s.c.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = version, -1, 1<<20, 0
	req.SessionID, req.SessionEpoch = sessionID, epoch
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrFetchResponse()
	s.do(req, resp)
	return resp
}

func batchOf(codec record.Codec, values ...string) []byte {
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte(v)}
	}
	return record.Build(recs, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), Codec: codec})
}

// legacyMessage is one magic 0 or 1 message (the pre-0.11 format) with a
// good CRC, as a 0.10 client would send it.
func legacyMessage(magic int8, value string) []byte {
	body := []byte{byte(magic), 0} // magic, attributes
	if magic == 1 {
		body = binary.BigEndian.AppendUint64(body, uint64(time.Now().UnixMilli()))
	}
	body = binary.BigEndian.AppendUint32(body, 0xffffffff) // null key
	body = binary.BigEndian.AppendUint32(body, uint32(len(value)))
	body = append(body, value...)
	msg := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
	msg = append(msg, body...)
	out := binary.BigEndian.AppendUint64(nil, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(len(msg)))
	return append(out, msg...)
}

func createRawTopic(t *testing.T, adm *kadm.Client, name string, configs map[string]*string) [16]byte {
	t.Helper()
	r, err := adm.CreateTopic(testCtx(t), 1, 1, configs, name)
	if err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, r.Err)
	}
	return r.ID
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if err := kerr.ErrorForCode(got); err != want && !(want == nil && err == nil) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// KIP-110: zstd batches need Produce v7 (ProduceRequest.validateRecords
// answers UNSUPPORTED_COMPRESSION_TYPE below it).
func TestProduce_ZstdNeedsV7(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	createRawTopic(t, adm, "z", nil)
	s := &rawSession{c: dialRaw(t, n.Addr())}
	for v := int16(3); v <= 6; v++ {
		sp := s.produceV(v, "z", batchOf(record.CodecZstd, "a"))
		wantCode(t, fmt.Sprintf("zstd produce v%d", v), sp.ErrorCode, kerr.UnsupportedCompressionType)
	}
	if sp := s.produceV(6, "z", batchOf(record.CodecLZ4, "a")); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("lz4 produce v6: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	if sp := s.produceV(7, "z", batchOf(record.CodecZstd, "b")); sp.ErrorCode != 0 || sp.BaseOffset != 1 {
		t.Fatalf("zstd produce v7: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}

// Produce v3+ takes only magic 2 batches: ProduceRequest.validateRecords
// answers INVALID_RECORD for a magic 0 or 1 batch (Fjord said
// UNSUPPORTED_FOR_MESSAGE_FORMAT or CORRUPT_MESSAGE), for no batch and for a
// second batch; ByteBufferLogInputStream answers CORRUPT_MESSAGE for a
// magic no format has or a batch shorter than any record.
func TestProduce_LegacyMagicIsInvalidRecord(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	createRawTopic(t, adm, "legacy", nil)
	s := &rawSession{c: dialRaw(t, n.Addr())}
	badMagic := batchOf(record.CodecNone, "x")
	badMagic[16] = 3
	short := batchOf(record.CodecNone, "x")[:12]
	binary.BigEndian.PutUint32(short[8:], 13)
	cases := []struct {
		name    string
		records []byte
		want    *kerr.Error
	}{
		{"magic 0", legacyMessage(0, "old"), kerr.InvalidRecord},
		{"magic 1", legacyMessage(1, "old"), kerr.InvalidRecord},
		{"magic 1 twice", append(legacyMessage(1, "a"), legacyMessage(1, "b")...), kerr.InvalidRecord},
		{"no records", []byte{}, kerr.InvalidRecord},
		{"truncated batch", batchOf(record.CodecNone, "x")[:40], kerr.InvalidRecord},
		{"two batches", append(batchOf(record.CodecNone, "a"), batchOf(record.CodecNone, "b")...), kerr.InvalidRecord},
		{"magic 3", badMagic, kerr.CorruptMessage},
		{"length 13", short, kerr.CorruptMessage},
	}
	for _, v := range []int16{3, 9} {
		for _, c := range cases {
			sp := s.produceV(v, "legacy", c.records)
			wantCode(t, c.name, sp.ErrorCode, c.want)
		}
	}
	if sp := s.produceV(3, "legacy", batchOf(record.CodecNone, "ok")); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("magic 2 after the refusals: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}

// KafkaApis reads a Produce request into a map keyed by topic and
// partition: a partition named twice is appended once, with its last
// entry, and answered once.
func TestProduce_DuplicatePartitionKeepsLast(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	id := createRawTopic(t, adm, "dup", nil)
	s := &rawSession{c: dialRaw(t, n.Addr())}
	req := rawProduce("dup", batchOf(record.CodecNone, "first"))
	second := kmsg.NewProduceRequestTopicPartition()
	second.Records = batchOf(record.CodecNone, "second")
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, second)
	again := kmsg.NewProduceRequestTopic()
	again.Topic = "other"
	third := kmsg.NewProduceRequestTopicPartition()
	third.Records = batchOf(record.CodecNone, "x")
	again.Partitions = append(again.Partitions, third)
	req.Topics = append(req.Topics, again)
	resp := kmsg.NewPtrProduceResponse()
	s.do(req, resp)
	if len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[0].Partitions[0].BaseOffset != 0 {
		t.Fatalf("response %+v, want one answer for dup-0 at offset 0", resp.Topics)
	}
	fp := s.fetchV(12, "dup", id, 0, -1).Topics[0].Partitions[0]
	if fp.HighWatermark != 1 || !bytes.Contains(fp.RecordBatches, []byte("second")) || bytes.Contains(fp.RecordBatches, []byte("first")) {
		t.Fatalf("log after the duplicate: high watermark %d, batches %q", fp.HighWatermark, fp.RecordBatches)
	}
}
