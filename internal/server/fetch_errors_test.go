package server_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fjordstream/fjord/internal/record"
)

// KIP-110 on Fetch, as KafkaApis.handleFetchRequest does it: a topic whose
// compression.type is zstd answers Fetch v4-v9 with
// UNSUPPORTED_COMPRESSION_TYPE (and no offsets); v10 reads it. With
// compression.type=producer, zstd batches are served as stored, as Kafka.
func TestFetch_ZstdTopicNeedsV10(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	zid := createRawTopic(t, adm, "zt", map[string]*string{"compression.type": kadm.StringPtr("zstd")})
	pid := createRawTopic(t, adm, "pt", nil)
	s := &rawSession{c: dialRaw(t, n.Addr())}
	for _, topic := range []string{"zt", "pt"} {
		if sp := s.produceV(9, topic, batchOf(record.CodecZstd, "a")); sp.ErrorCode != 0 {
			t.Fatalf("produce to %s: %v", topic, kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	for v := int16(4); v <= 12; v++ {
		zp := s.fetchV(v, "zt", zid, 0, -1).Topics[0].Partitions[0]
		if v < 10 {
			wantCode(t, "fetch of the zstd topic", zp.ErrorCode, kerr.UnsupportedCompressionType)
			if zp.HighWatermark != -1 || len(zp.RecordBatches) != 0 {
				t.Errorf("fetch v%d of the zstd topic: high watermark %d, %d bytes", v, zp.HighWatermark, len(zp.RecordBatches))
			}
		} else if zp.ErrorCode != 0 || zp.HighWatermark != 1 || len(zp.RecordBatches) == 0 {
			t.Errorf("fetch v%d of the zstd topic: %v, high watermark %d, %d bytes", v, kerr.ErrorForCode(zp.ErrorCode), zp.HighWatermark, len(zp.RecordBatches))
		}
		pp := s.fetchV(v, "pt", pid, 0, -1).Topics[0].Partitions[0]
		if pp.ErrorCode != 0 || pp.HighWatermark != 1 || len(pp.RecordBatches) == 0 {
			t.Errorf("fetch v%d of the producer topic: %v, high watermark %d, %d bytes", v, kerr.ErrorForCode(pp.ErrorCode), pp.HighWatermark, len(pp.RecordBatches))
		}
	}
}

// KIP-227 as Kafka's FetchManager reads it: epoch 0 or -1 is a full fetch
// whatever the session ID (answered with session 0: Fjord opens none);
// any other epoch names a session, which Fjord never handed out:
// FETCH_SESSION_ID_NOT_FOUND at the top level, no partitions. Session 0
// with epoch > 0 gets the same (Kafka finds no session 0 either).
func TestFetch_UnknownSessionIsNotFound(t *testing.T) {
	n := startNode(t, t.TempDir())
	_, adm := newClient(t, n.Addr())
	id := createRawTopic(t, adm, "sess", nil)
	s := &rawSession{c: dialRaw(t, n.Addr())}
	if sp := s.produceV(9, "sess", batchOf(record.CodecNone, "a")); sp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(sp.ErrorCode))
	}
	for v := int16(7); v <= 18; v++ {
		for _, c := range []struct {
			session, epoch int32
			want           *kerr.Error
		}{
			{0, 0, nil}, {0, -1, nil}, {123, 0, nil}, {123, -1, nil},
			{123, 1, kerr.FetchSessionIDNotFound}, {123, 7, kerr.FetchSessionIDNotFound},
			{0, 1, kerr.FetchSessionIDNotFound}, {0, -2, kerr.FetchSessionIDNotFound},
		} {
			resp := s.fetchV(v, "sess", id, c.session, c.epoch)
			wantCode(t, "fetch session", resp.ErrorCode, c.want)
			if resp.SessionID != 0 {
				t.Errorf("v%d session %d epoch %d: session ID %d, want 0", v, c.session, c.epoch, resp.SessionID)
			}
			if c.want != nil && len(resp.Topics) != 0 {
				t.Errorf("v%d session %d epoch %d: partitions answered with the session error", v, c.session, c.epoch)
			}
			if c.want == nil && (len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0) {
				t.Errorf("v%d session %d epoch %d: full fetch not served: %+v", v, c.session, c.epoch, resp.Topics)
			}
		}
	}
}
