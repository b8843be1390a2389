package server

// AddPartitionsToTxn (key 24), v0-v5. v0-v3 (producers): the partitions
// join the producer's transaction at its coordinator, answered once the
// new state is durable; partitions of unknown topics are
// UNKNOWN_TOPIC_OR_PARTITION and then every other partition of the
// request OPERATION_NOT_ATTEMPTED, as Kafka's handler; PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v2 (KIP-588). v4+ (brokers, KIP-890): a
// batch of transactions; with verify_only a partition leader checks that
// a transactional write belongs to an ongoing transaction holding its
// partition (nothing changes), without it the partitions are added (v5:
// a KIP-890 part 2 write's implicit add, which starts the transaction).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/txn"
)

func (b *Broker) handleAddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version >= 4 {
		return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
			for _, tr := range req.Transactions {
				resp.Transactions = append(resp.Transactions, b.addPartitionsBatched(ctx, tr, req.Version))
			}
			return resp
		})
	}
	img := b.meta.Image()
	var parts []txn.TopicPartition
	unknown := false
	for _, rt := range req.Topics {
		t := img.Topic(rt.Topic)
		for _, p := range rt.Partitions {
			if t == nil || p < 0 || int(p) >= len(t.Partitions) {
				unknown = true
			}
			parts = append(parts, txn.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	answer := func(code func(txn.TopicPartition) int16) kmsg.Response {
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, code(txn.TopicPartition{Topic: rt.Topic, Partition: p})
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	if unknown {
		return &inflight{resp: answer(func(tp txn.TopicPartition) int16 {
			if t := img.Topic(tp.Topic); t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		})}
	}
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		code := int16(0)
		if err := b.txns.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts); err != nil {
			code = txnCode(err, req.Version >= 2)
		}
		return answer(func(txn.TopicPartition) int16 { return code })
	})
}

// addPartitionsBatched answers one transaction of a v4+ request.
func (b *Broker) addPartitionsBatched(ctx context.Context, tr kmsg.AddPartitionsToTxnRequestTransaction, version int16) kmsg.AddPartitionsToTxnResponseTransaction {
	out := kmsg.NewAddPartitionsToTxnResponseTransaction()
	out.TransactionalID = tr.TransactionalID
	var parts []txn.TopicPartition
	for _, rt := range tr.Topics {
		for _, p := range rt.Partitions {
			parts = append(parts, txn.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	codes := make([]int16, len(parts))
	if tr.VerifyOnly {
		for i, err := range b.txns.Verify(ctx, tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, parts) {
			if err != nil {
				codes[i] = txnCode(err, true)
			}
		}
	} else if err := b.addForBroker(ctx, tr, parts, version); err != nil {
		code := txnCode(err, true)
		for i := range codes {
			codes[i] = code
		}
	}
	i := 0
	for _, rt := range tr.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			sp.Partition, sp.ErrorCode = p, codes[i]
			st.Partitions = append(st.Partitions, sp)
			i++
		}
		out.Topics = append(out.Topics, st)
	}
	return out
}

// addForBroker adds a partition leader's partitions (v4+ without
// verify_only); v5 is a KIP-890 part 2 leader's implicit add, as Kafka
// tells the two apart by the version.
func (b *Broker) addForBroker(ctx context.Context, tr kmsg.AddPartitionsToTxnRequestTransaction, parts []txn.TopicPartition, version int16) error {
	if version >= 5 {
		return b.txns.AddPartitionsTV2(ctx, tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, parts)
	}
	return b.txns.AddPartitions(ctx, tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, parts)
}
