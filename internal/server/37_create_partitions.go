package server

// CreatePartitions (key 37), v0-v3: raises a topic's partition count, with
// optional explicit assignments for the new partitions, or validates only.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

func (b *Broker) handleCreatePartitions(req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := b.addPartitions(rt, req.ValidateOnly)
		st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) addPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	t := b.meta.Image().Topic(rt.Topic)
	if t == nil {
		return fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, rt.Topic)
	}
	have := int32(len(t.Partitions))
	switch {
	case rt.Count < have:
		return fmt.Errorf("%w: topic currently has %d partitions, which is higher than the requested %d", metadata.ErrInvalidPartitions, have, rt.Count)
	case rt.Count == have:
		return fmt.Errorf("%w: topic already has %d partitions", metadata.ErrInvalidPartitions, have)
	case rt.Count > maxPartitionsPerTopic:
		return fmt.Errorf("%w: at most %d partitions per topic", metadata.ErrInvalidPartitions, maxPartitionsPerTopic)
	}
	if rt.Assignment != nil && len(rt.Assignment) != int(rt.Count-have) {
		return fmt.Errorf("%w: increasing the number of partitions by %d but %d assignments provided", kerr.InvalidReplicaAssignment, rt.Count-have, len(rt.Assignment))
	}
	var added []metadata.Partition
	for i := have; i < rt.Count; i++ {
		replicas := []int32{b.cfg.NodeID}
		if rt.Assignment != nil {
			replicas = rt.Assignment[i-have].Replicas
			if err := b.checkReplicas(replicas); err != nil {
				return err
			}
		}
		added = append(added, metadata.Partition{Index: i, Leader: replicas[0], Replicas: replicas, ISR: replicas})
	}
	if validateOnly {
		return nil
	}
	cfg, err := b.cfg.Broker.TopicConfig(t.Configs)
	if err != nil {
		return err
	}
	if err := b.openPartitions(t, added, cfg); err != nil {
		return err
	}
	nt := *t
	nt.Partitions = append(append([]metadata.Partition(nil), t.Partitions...), added...)
	if err := b.meta.Update(func(m *metadata.Mutation) error { m.PutTopic(&nt); return nil }); err != nil {
		return fmt.Errorf("create partitions of %s: %w", rt.Topic, err)
	}
	return nil
}
