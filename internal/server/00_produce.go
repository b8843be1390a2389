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
// As in Kafka (v3+), each partition's records must be exactly one batch
// (INVALID_RECORD otherwise). Batches of idempotent producers are checked
// against the partition's producer state (partition.Append): a retry of
// one of the producer's last five batches is answered with the original's
// offsets, once the original is durable, and not written again;
// OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH follow Kafka's
// leader (2.5+). A producer the partition has no state for is accepted at
// any sequence, as Kafka does, so UNKNOWN_PRODUCER_ID is never sent.
//
// Departure from Kafka: transactional batches are refused
// (INVALID_TXN_STATE) until transactions exist.

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
}

func (b *Broker) handleProduce(ctx context.Context, req *kmsg.ProduceRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var pending []pendingPartition
	now := b.now()
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, known := b.topicName(rt.Topic, rt.TopicID)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			var part *partition.Partition
			var err error
			switch {
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				err = kerr.InvalidRequiredAcks
			case !known && rt.TopicID != ([16]byte{}):
				err = kerr.UnknownTopicID
			case !known:
				err = kerr.UnknownTopicOrPartition
			case metadata.IsInternal(name):
				err = fmt.Errorf("%w: %s is internal", kerr.InvalidTopicException, name)
			default:
				if part = b.partitionFor(name, rp.Partition); part == nil {
					err = kerr.UnknownTopicOrPartition
				}
			}
			if err == nil {
				err = checkProducible(rp.Records)
			}
			if err == nil {
				err = part.CheckProduce(req.Acks)
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
				sp.BaseOffset = pend.Info.BaseOffset
				if pend.Info.LogAppendTime >= 0 {
					sp.LogAppendTime = pend.Info.LogAppendTime
				}
				pending = append(pending, pendingPartition{topicIdx: i, partIdx: j, wait: pend, part: part})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
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
			if err := wait(ctx); err != nil {
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

// checkProducible refuses what clients may not write: more than one batch
// per partition (Kafka's rule for Produce v3+), control batches, and
// transactional batches until transactions exist.
func checkProducible(records []byte) error {
	for n := 0; len(records) > 0; n++ {
		if n == 1 {
			return fmt.Errorf("%w: a produce request may hold one record batch per partition", record.ErrInvalidRecord)
		}
		h, err := record.ParseHeader(records)
		if err != nil {
			return err
		}
		if h.IsControl() {
			return fmt.Errorf("%w: clients may not write control batches", record.ErrInvalidRecord)
		}
		if h.IsTransactional() {
			return fmt.Errorf("%w: transactions are not supported yet", kerr.InvalidTxnState)
		}
		if h.Size() > int64(len(records)) || h.Size() <= 0 {
			return nil // Validate reports the framing error with detail
		}
		records = records[h.Size():]
	}
	return nil
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
