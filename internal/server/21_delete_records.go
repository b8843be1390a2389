package server

// DeleteRecords (key 21), v0-v2. Offset -1 means the high watermark. The
// log start offset advances at once (persisted); whole segments below it are
// deleted. Offsets above the high watermark get OFFSET_OUT_OF_RANGE.
// Kafka's internal topics (__consumer_offsets, __transaction_state) refuse
// it with INVALID_TOPIC_EXCEPTION, as Kafka's replica manager does: the
// coordinators' state lives in them.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleDeleteRecords(req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			part := b.partitionFor(rt.Topic, rp.Partition)
			if part != nil && metadata.IsInternal(rt.Topic) {
				sp.ErrorCode = kerr.InvalidTopicException.Code
			} else if part == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if low, err := part.DeleteRecordsBefore(rp.Offset); err != nil {
				sp.ErrorCode = protocol.ErrorCode(err)
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
