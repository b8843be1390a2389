package server

// Produce (key 0), v3-v13. Batches are validated (CRC, sizes, offsets,
// timestamps, max.message.bytes) and stored exactly as sent, compressed or
// not, with broker-assigned offsets, by the partition's leader only
// (NOT_LEADER_OR_FOLLOWER elsewhere). acks=0 sends no response; acks=1 is
// answered once the leader's copy is durable per the topic's flush
// settings (Fjord default: fsynced, group commit); acks=-1 once the high
// watermark passes the batch: every ISR replica holds it durably. acks=-1
// is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than
// min.insync.replicas, and answered NOT_ENOUGH_REPLICAS_AFTER_APPEND when
// it shrinks below it before the batch commits. With one replica, acks=1
// and acks=all are the same promise. v13 names topics by ID.
//
// Records are first checked as Kafka's ProduceRequest.validateRecords
// checks them (v3+): exactly one batch per partition, of magic 2 (a magic 0
// or 1 batch, no batch, or a second one: INVALID_RECORD; a batch length or
// magic no format has: CORRUPT_MESSAGE), and no zstd below v7 (KIP-110:
// UNSUPPORTED_COMPRESSION_TYPE). A partition named twice in one request is
// produced once, with its last entry, and answered once, as Kafka's
// KafkaApis keys a request's partitions by topic and partition. Batches of idempotent producers are checked
// against the partition's producer state (partition.Append): a retry of
// one of the producer's last five batches is answered with the original's
// offsets, once the original is durable, and not written again;
// OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH follow Kafka's
// leader (2.5+). A producer the partition has no state for is accepted at
// any sequence, as Kafka does, so UNKNOWN_PRODUCER_ID is never sent.
//
// Transactional batches (KIP-98) need the request's transactional ID and,
// for the first batch of a transaction on a partition, the transaction's
// coordinator's word that it is ongoing and holds the partition (KIP-890
// part 1, Broker.verifyTransactional: in process when this node is the
// coordinator, else one AddPartitionsToTxn v4 verify_only round trip, made
// while the connection's next requests wait); from v12 (KIP-890 part 2)
// the coordinator adds the partition to the transaction instead.
//
// Departures from Kafka: internal topics answer
// INVALID_TOPIC_EXCEPTION to every client, where Kafka lets client ID
// __admin_client append (the group coordinator writes __consumer_offsets
// itself, and records slipped in beside it would only be seen on reload).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/protocol"
	"github.com/fjordstream/fjord/internal/record"
)

type pendingPartition struct {
	topicIdx, partIdx int // position of the partition in the response
	wait              partition.Pending
	part              *partition.Partition
	dup               *record.Header // a retried idempotent batch answered with the original's offsets
}

func (b *Broker) handleProduce(ctx context.Context, req *kmsg.ProduceRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var pending []pendingPartition
	now := b.now()
	last := lastEntries(req)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, known := b.topicName(rt.Topic, rt.TopicID)
		for j := range rt.Partitions {
			if !last[[2]int{i, j}] {
				continue // named again later in the request: that entry counts
			}
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			var part *partition.Partition
			var err error
			// Kafka's order: the partition must exist, then the records
			// pass validateRecords, then acks, internal topics and the
			// replica are checked (ReplicaManager).
			switch {
			case !known && rt.TopicID != ([16]byte{}):
				err = kerr.UnknownTopicID
			case !known:
				err = kerr.UnknownTopicOrPartition
			}
			if err == nil {
				err = checkProducible(req.Version, rp.Records)
			}
			if err == nil {
				switch {
				case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
					err = kerr.InvalidRequiredAcks
				case metadata.IsInternal(name):
					err = fmt.Errorf("%w: cannot append to internal topic %s", kerr.InvalidTopicException, name)
				default:
					if part = b.partitionFor(name, rp.Partition); part == nil {
						err = kerr.UnknownTopicOrPartition
					}
				}
			}
			if err == nil {
				err = part.CheckProduce(req.Acks)
			}
			if err == nil {
				err = b.checkTransactional(ctx, req, part, rp.Records)
			}
			var pend partition.Pending
			if err == nil {
				pend, err = part.Append(rp.Records, now)
			}
			if err != nil {
				sp.ErrorCode = protocol.ErrorCode(err)
				sp.ErrorMessage = protocol.ErrorMessage(err)
				b.logProduceError(name, rp.Partition, err)
			} else {
				if !pend.Duplicate {
					b.cfg.Metrics.produced(name, len(rp.Records), pend.Info.LastOffset-pend.Info.BaseOffset+1)
				}
				sp.BaseOffset = pend.Info.BaseOffset
				if pend.Info.LogAppendTime >= 0 {
					sp.LogAppendTime = pend.Info.LogAppendTime
				}
				pp := pendingPartition{topicIdx: len(resp.Topics), partIdx: len(st.Partitions), wait: pend, part: part}
				if pend.Duplicate {
					if h, herr := record.PeekHeader(rp.Records); herr == nil {
						pp.dup = &h
					}
				}
				pending = append(pending, pp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if req.Acks == 0 {
		if len(pending) == 0 {
			return nil
		}
		// No response, but the appends are still made durable (and so
		// visible: the high watermark follows the flushed offset) by the
		// connection's writer, sharing fsyncs as acknowledged produces
		// do. Without this, records produced with acks=0 stayed invisible
		// until a later acknowledged write to the same partition.
		return &inflight{silent: true, finish: func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, max(timeout, 30*time.Second))
			defer cancel()
			for _, p := range pending {
				if err := p.wait.WaitLeader(ctx); err != nil {
					b.logger.Error("acks=0 produce not made durable", "topic", p.part.ID.Topic, "partition", p.part.ID.Partition, "err", err)
				}
			}
		}}
	}
	return &inflight{resp: resp, finish: func(ctx context.Context) {
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for _, p := range pending {
			sp := &resp.Topics[p.topicIdx].Partitions[p.partIdx]
			wait := p.wait.Wait // acks=all: until the ISR holds it
			if req.Acks == 1 {
				wait = p.wait.WaitLeader // acks=1: this leader's copy
			}
			err := wait(ctx)
			if err == nil && p.dup != nil {
				b.logDuplicateAck(p)
			}
			if err != nil {
				sp.ErrorCode = protocol.ErrorCode(err)
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					sp.ErrorCode = kerr.RequestTimedOut.Code
				}
				sp.ErrorMessage = protocol.ErrorMessage(err)
				sp.BaseOffset = -1
				level := slog.LevelError // a storage failure
				if errors.Is(err, partition.ErrNotLeader) || errors.Is(err, partition.ErrNotEnoughReplicasAfterAppend) ||
					sp.ErrorCode == kerr.RequestTimedOut.Code {
					level = slog.LevelWarn // leadership or the ISR moved: the client retries
				}
				if ok, held := b.logs.Allow(fmt.Sprintf("ack %s %d %d", p.part.ID.Topic, p.part.ID.Partition, sp.ErrorCode), b.now()); ok {
					b.logger.Log(ctx, level, "produce not acknowledged", "topic", p.part.ID.Topic, "partition", p.part.ID.Partition, "err", err, "similar_suppressed", held)
				}
			}
			sp.LogStartOffset = p.part.LogStartOffset()
		}
	}}
}

// logDuplicateAck notes a retried idempotent batch acknowledged with the
// offsets of the copy already in the log: the client is told its records
// are there, so a lost acknowledged record is traced from these lines
// too. Once per batch per Every (a client retrying one batch).
func (b *Broker) logDuplicateAck(p pendingPartition) {
	h, id := p.dup, p.part.ID
	if ok, held := b.logs.Allow(fmt.Sprintf("dup %s %d %d %d", id.Topic, id.Partition, h.ProducerID, h.BaseSequence), b.now()); ok {
		b.logger.Info("acknowledged a retried batch as the copy already in the log", "topic", id.Topic, "partition", id.Partition,
			"producer_id", h.ProducerID, "producer_epoch", h.ProducerEpoch, "base_sequence", h.BaseSequence,
			"base_offset", p.wait.Info.BaseOffset, "last_offset", p.wait.Info.LastOffset, "leader_epoch", p.wait.LeaderEpoch(),
			"similar_suppressed", held)
	}
}

// lastEntries marks, by topic and partition index in the request, the
// entries that count: the last one of each topic-partition. Kafka reads a
// Produce request into a map keyed by topic (name, or ID from v13) and
// partition, so an earlier entry for the same partition is dropped, neither
// appended nor answered.
func lastEntries(req *kmsg.ProduceRequest) map[[2]int]bool {
	type key struct {
		topic string
		id    [16]byte
		p     int32
	}
	seen := make(map[key][2]int)
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			seen[key{rt.Topic, rt.TopicID, rt.Partitions[j].Partition}] = [2]int{i, j}
		}
	}
	last := make(map[[2]int]bool, len(seen))
	for _, at := range seen {
		last[at] = true
	}
	return last
}

// checkProducible refuses what clients may not write. First Kafka's
// ProduceRequest.validateRecords (v3+, the versions Fjord serves): exactly
// one batch, of magic 2, not zstd below v7. Then what Fjord adds: no
// control batches.
func checkProducible(version int16, records []byte) error {
	size, magic, ok, err := record.PeekBatch(records)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: produce requests with version %d must have at least one record batch per partition", record.ErrInvalidRecord, version)
	case magic != record.Magic:
		return fmt.Errorf("%w: produce requests with version %d are only allowed to contain record batches with magic version %d (got %d)", record.ErrInvalidRecord, version, record.Magic, magic)
	}
	h, err := record.ParseHeader(records)
	if err != nil {
		return err
	}
	if version < 7 && h.Compression() == record.CodecZstd {
		return fmt.Errorf("%w: produce requests with version %d are not allowed to use ZStandard compression", kerr.UnsupportedCompressionType, version)
	}
	if _, _, ok, err := record.PeekBatch(records[size:]); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: produce requests with version %d are only allowed to contain exactly one record batch per partition", record.ErrInvalidRecord, version)
	}
	if h.IsControl() {
		return fmt.Errorf("%w: clients may not write control batches", record.ErrInvalidRecord)
	}
	return nil
}

// checkTransactional verifies a transactional batch with its
// transaction's coordinator (Broker.verifyTransactional); the request must
// name the transactional ID, as Kafka's handler requires
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise). Other batches pass.
func (b *Broker) checkTransactional(ctx context.Context, req *kmsg.ProduceRequest, part *partition.Partition, records []byte) error {
	h, err := record.PeekHeader(records)
	if err != nil || !h.IsTransactional() {
		return nil // checkProducible read this header already
	}
	if req.TransactionID == nil || *req.TransactionID == "" {
		return fmt.Errorf("%w: a transactional batch in a produce request without a transactional ID", kerr.TransactionalIDAuthorizationFailed)
	}
	if !h.HasProducerID() {
		return fmt.Errorf("%w: a transactional batch without a producer ID", record.ErrInvalidRecord)
	}
	vctx, cancel := context.WithTimeout(ctx, txnRequestTimeout)
	defer cancel()
	// Produce v12+ is KIP-890 part 2's: the partition is added, not
	// only verified (the producer sent no AddPartitionsToTxn).
	return b.verifyTransactional(vctx, part, *req.TransactionID, h.ProducerID, h.ProducerEpoch, req.Version >= 12)
}

func (b *Broker) logProduceError(topic string, p int32, err error) {
	var ke *kerr.Error
	if errors.As(err, &ke) && (ke == kerr.UnknownTopicOrPartition || ke == kerr.UnknownTopicID) {
		return // routine while clients refresh metadata
	}
	if ok, held := b.logs.Allow(fmt.Sprintf("reject %s %d %d", topic, p, protocol.ErrorCode(err)), b.now()); ok {
		b.logger.Warn("produce rejected", "topic", topic, "partition", p, "err", err, "similar_suppressed", held)
	}
}
