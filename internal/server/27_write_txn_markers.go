package server

// WriteTxnMarkers (key 27), v0-v1: a transaction coordinator asks the
// leaders of a transaction's partitions to end it there with a commit or
// abort marker (KIP-98). Each partition answers once its marker is held
// by the ISR (markers are appended with acks=all, as Kafka's), or with an
// error: NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_PRODUCER_EPOCH (a producer epoch older than the partition has
// seen), TRANSACTION_COORDINATOR_FENCED (a coordinator epoch older than
// the producer's last marker's), REQUEST_TIMED_OUT (not replicated within
// 30 s, Kafka's request.timeout.ms default; the coordinator retries).
// A marker on a __consumer_offsets partition also ends the producer's
// pending transactional offset commits there (committed or dropped) before
// the partition is answered.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/group"
	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/protocol"
)

// markerTimeout bounds the wait for a marker's replication.
const markerTimeout = 30 * time.Second

func (b *Broker) handleWriteTxnMarkers(ctx context.Context, req *kmsg.WriteTxnMarkersRequest) *inflight {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	type waiting struct {
		code   *int16
		wait   partition.Pending
		part   *partition.Partition
		pid    int64
		commit bool
	}
	var pending []waiting
	now := b.now()
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
			for i, p := range t.Partitions {
				rp := &rt.Partitions[i]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				part := b.partitionFor(t.Topic, p)
				if part == nil {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					continue
				}
				pend, err := part.WriteMarker(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch, now)
				if err != nil {
					rp.ErrorCode = protocol.ErrorCode(err)
					if rp.ErrorCode == kerr.UnknownServerError.Code {
						b.logger.Error("writing a transaction marker failed", "topic", t.Topic, "partition", p, "producer_id", m.ProducerID, "err", err)
					}
					continue
				}
				pending = append(pending, waiting{wait: pend, part: part, pid: m.ProducerID, commit: m.Committed})
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	// The codes are pointed at once the response's slices stop growing.
	k := 0
	for i := range resp.Markers {
		for j := range resp.Markers[i].Topics {
			for n := range resp.Markers[i].Topics[j].Partitions {
				rp := &resp.Markers[i].Topics[j].Partitions[n]
				if rp.ErrorCode == 0 {
					pending[k].code = &rp.ErrorCode
					k++
				}
			}
		}
	}
	if len(pending) == 0 {
		return &inflight{resp: resp}
	}
	return &inflight{resp: resp, finish: func(wctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, markerTimeout)
		defer cancel()
		stop := context.AfterFunc(wctx, cancel)
		defer stop()
		for _, p := range pending {
			err := p.wait.Wait(ctx)
			if err == nil {
				err = b.markerDone(ctx, p.part, p.pid, p.commit)
			}
			if err != nil {
				*p.code = protocol.ErrorCode(err)
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					*p.code = kerr.RequestTimedOut.Code
				}
			}
		}
	}}
}

// markerDone completes what a durable marker on part ends besides the
// partition's own transaction: on a __consumer_offsets partition, the
// producer's pending transactional offsets.
func (b *Broker) markerDone(ctx context.Context, part *partition.Partition, producerID int64, commit bool) error {
	if part.ID.Topic != group.OffsetsTopic {
		return nil
	}
	return b.groups.CompleteTransaction(ctx, part.ID.Partition, producerID, commit)
}
