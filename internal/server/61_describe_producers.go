package server

// DescribeProducers (key 61), v0 (KIP-664): the idempotent producers each
// requested partition remembers (ID, epoch, last sequence, last write
// time). Errors follow Kafka's handler: an invalid topic name gets
// INVALID_TOPIC_EXCEPTION and an unknown topic or partition
// UNKNOWN_TOPIC_OR_PARTITION for each requested partition; a partition
// that exists but is not led here gets NOT_LEADER_OR_FOLLOWER (in
// standalone mode only a partition still being opened). No transactions
// yet, so the coordinator epoch and the transaction start offset are -1.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleDescribeProducers(req *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	img := b.meta.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		// As Kafka, a topic-level error is repeated for each partition.
		topicErr := metadata.ValidateTopicName(rt.Topic)
		topic := img.Topic(rt.Topic)
		if topicErr == nil && topic == nil {
			topicErr = fmt.Errorf("%w: topic '%s' does not exist", metadata.ErrUnknownTopic, rt.Topic)
		}
		for _, partIdx := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = partIdx
			err := topicErr
			if err == nil {
				err = b.describeProducers(topic, partIdx, &sp)
			}
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// describeProducers fills sp with the active producers of partition idx of
// topic, or returns why it cannot.
func (b *Broker) describeProducers(topic *metadata.Topic, idx int32, sp *kmsg.DescribeProducersResponseTopicPartition) error {
	var meta *metadata.Partition
	for i := range topic.Partitions {
		if topic.Partitions[i].Index == idx {
			meta = &topic.Partitions[i]
			break
		}
	}
	if meta == nil {
		return fmt.Errorf("%w: topic '%s' has no partition %d", metadata.ErrUnknownTopic, topic.Name, idx)
	}
	part := b.partitionFor(topic.Name, idx)
	if part == nil || meta.Leader != b.cfg.NodeID {
		return fmt.Errorf("%w: partition %s-%d is not led by node %d", kerr.NotLeaderForPartition, topic.Name, idx, b.cfg.NodeID)
	}
	for _, ps := range part.ActiveProducers() {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID = ps.ProducerID
		ap.ProducerEpoch = int32(ps.Epoch)
		ap.LastSequence = ps.LastSequence
		ap.LastTimestamp = ps.LastTimestamp
		ap.CoordinatorEpoch = ps.CoordinatorEpoch
		ap.CurrentTxnStartOffset = ps.CurrentTxnStartOffset
		sp.ActiveProducers = append(sp.ActiveProducers, ap)
	}
	return nil
}
