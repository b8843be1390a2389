package server

// ListOffsets (key 2), v0-v11. Special timestamps: -1 latest (the high
// watermark; read_committed, IsolationLevel 1, gets the last stable
// offset, and a timestamp lookup finds only offsets below it, as Kafka's
// lastFetchableOffset),
// -2 earliest (log start offset), -3 max timestamp (v7+), -4 earliest local
// (v8+, equals earliest: no tiered storage), -5 latest tiered (v9+, -1: no
// tiered storage). A timestamp >= 0 finds the earliest record at or after it.
// v0 answers in OldStyleOffsets with at most one offset.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/partition"
	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleListOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			part := b.partitionFor(rt.Topic, rp.Partition)
			if part == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.ErrorCode = checkLeaderEpoch(rp.CurrentLeaderEpoch, part.LeaderEpoch())
			if sp.ErrorCode == 0 && part.Role() != partition.RoleLeader {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			}
			if sp.ErrorCode != 0 {
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderEpoch = part.LeaderEpoch()
			fetchable := part.HighWatermark()
			if req.IsolationLevel == 1 {
				fetchable = part.LastStableOffset()
			}
			switch ts := rp.Timestamp; {
			case ts == -1:
				sp.Offset = fetchable
			case ts == -2 || ts == -4:
				sp.Offset = part.LogStartOffset()
			case ts == -3:
				sp.Timestamp, sp.Offset = part.MaxTimestamp()
			case ts == -5:
			case ts >= 0:
				off, t, ok, err := part.OffsetForTimestamp(ts)
				switch {
				case err != nil:
					sp.ErrorCode = protocol.ErrorCode(err)
					b.logger.Error("offset for timestamp failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				case ok && off < fetchable:
					sp.Offset, sp.Timestamp = off, t
				}
			default:
				sp.ErrorCode = kerr.InvalidRequest.Code
			}
			if req.Version == 0 {
				if sp.Offset >= 0 && sp.ErrorCode == 0 {
					sp.OldStyleOffsets = []int64{sp.Offset}
				}
				if rp.MaxNumOffsets == 0 {
					sp.OldStyleOffsets = nil
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
