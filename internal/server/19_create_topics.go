package server

// CreateTopics (key 19), v0-v7. Validation as Kafka: topic name rules and
// '.'/'_' collisions, partitions and replication factor (-1 = broker
// default), explicit assignments (then both must be -1), topic configs.
// ValidateOnly checks everything and creates nothing. v5+ echoes the
// resulting partitions, replication factor and configs; v7 the topic ID.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/controller"
	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleCreateTopics(req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			msg := "topic " + rt.Topic + " appears more than once in the request"
			st.ErrorMessage = &msg
			resp.Topics = append(resp.Topics, st)
			continue
		}
		spec := controller.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: map[string]string{}}
		if len(rt.ReplicaAssignment) > 0 {
			spec.Assignments = map[int32][]int32{}
			for _, a := range rt.ReplicaAssignment {
				spec.Assignments[a.Partition] = a.Replicas
			}
		}
		for _, c := range rt.Configs {
			if c.Value != nil {
				spec.Configs[c.Name] = *c.Value
			}
		}
		ctx, cancel := adminCtx(req.TimeoutMillis)
		t, err := b.createTopic(ctx, spec, req.ValidateOnly)
		cancel()
		if err != nil {
			st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
		if req.Version >= 5 {
			for _, e := range b.describeTopicConfigs(t.Configs, nil, false, false) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Source, e.IsSensitive
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
