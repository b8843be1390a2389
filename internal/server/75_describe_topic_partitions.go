package server

// DescribeTopicPartitions (key 75), v0: per partition leader, leader
// epoch, replicas, ISR, eligible leader replicas and the last known ELR
// (KIP-966, which Metadata does not carry), and offline replicas, for the
// named topics (all, sorted, when none is named), paginated as Kafka's:
// topics in name order from the cursor, at most ResponsePartitionLimit
// partitions (Kafka's default and ceiling, 2000) per response, with
// NextCursor naming where the next page starts.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
)

// maxDescribePartitions is Kafka's max.request.partition.size.limit
// default.
const maxDescribePartitions = 2000

func (b *Broker) handleDescribeTopicPartitions(req *kmsg.DescribeTopicPartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	img := b.meta.Image()
	limit := req.ResponsePartitionLimit
	if limit <= 0 || limit > maxDescribePartitions {
		limit = maxDescribePartitions
	}
	var names []string
	if len(req.Topics) == 0 {
		for _, n := range img.TopicNames() {
			if !metadata.IsInternal(n) {
				names = append(names, n)
			}
		}
	} else {
		for _, t := range req.Topics {
			names = append(names, t.Topic)
		}
		sort.Strings(names)
	}
	first := int32(0)
	if c := req.Cursor; c != nil {
		i := sort.SearchStrings(names, c.Topic)
		names, first = names[i:], c.Partition
	}
	for ti, name := range names {
		st := kmsg.NewDescribeTopicPartitionsResponseTopic()
		n := name
		st.Topic, st.AuthorizedOperations = &n, -2147483648
		t := img.Topic(name)
		if t == nil {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if metadata.ValidateTopicName(name) != nil {
				st.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID, st.IsInternal = t.ID, metadata.IsInternal(name)
		start := int32(0)
		if ti == 0 {
			start = first
		}
		for pi := start; int(pi) < len(t.Partitions); pi++ {
			if limit == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: pi}
				resp.Topics = append(resp.Topics, st)
				return resp
			}
			limit--
			p := t.Partitions[pi]
			sp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			sp.Partition, sp.LeaderID, sp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
			sp.Replicas, sp.ISR = p.Replicas, p.ISR
			sp.EligibleLeaderReplicas, sp.LastKnownELR = p.ELR, p.LastKnownELR
			for _, r := range p.Replicas {
				if br := img.Broker(r); br == nil || br.Fenced {
					sp.OfflineReplicas = append(sp.OfflineReplicas, r)
				}
			}
			if p.Leader < 0 {
				sp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
