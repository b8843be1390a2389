package server

// OffsetCommit (key 8), v0-v9 (topics by name; v10's topic IDs are not
// served yet). As Kafka's handler does, partitions of unknown topics, or
// beyond a topic's partition count, are answered UNKNOWN_TOPIC_OR_PARTITION
// here and not passed on; the rest go to the group coordinator
// (internal/group, offsets.go), which checks member, generation and
// metadata size and answers once the commit is durable.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type topicPartition struct {
	topic     string
	partition int32
}

func (b *Broker) handleOffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *inflight {
	img := b.meta.Image()
	known := *req
	known.Topics = nil
	unknown := map[topicPartition]bool{}
	for _, rt := range req.Topics {
		t := img.Topic(rt.Topic)
		kt := rt
		kt.Partitions = nil
		for _, rp := range rt.Partitions {
			if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				unknown[topicPartition{rt.Topic, rp.Partition}] = true
				continue
			}
			kt.Partitions = append(kt.Partitions, rp)
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
	}
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		codes := map[topicPartition]int16{}
		if len(known.Topics) > 0 {
			r := b.groups.OffsetCommit(ctx, &known)
			for _, rt := range r.Topics {
				for _, rp := range rt.Partitions {
					codes[topicPartition{rt.Topic, rp.Partition}] = rp.ErrorCode
				}
			}
		}
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		committed := 0
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				tp := topicPartition{rt.Topic, rp.Partition}
				if unknown[tp] {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else {
					sp.ErrorCode = codes[tp]
				}
				st.Partitions = append(st.Partitions, sp)
				if sp.ErrorCode == 0 {
					committed++
				}
			}
			resp.Topics = append(resp.Topics, st)
		}
		b.cfg.Metrics.offsetsCommitted(committed)
		return resp
	})
}
