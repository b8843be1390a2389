package controller

// The Kafka admin requests the active controller answers, whichever broker
// a client sent them to (brokers forward them, KIP-590): CreateTopics (19,
// v0-v7), DeleteTopics (20, v0-v6), CreatePartitions (37, v0-v3),
// AlterConfigs (33, v0-v2) and IncrementalAlterConfigs (44, v0-v1) for
// topics and brokers (the replication throttle rates), AlterPartitionReassignments (45, v0-v1) and
// ListPartitionReassignments (46, v0) (in reassign.go), AllocateProducerIds
// (67). Each request is decoded into the controller's typed operations, so
// validation and error codes are the same whether the request came from a
// client or was forwarded.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

// Kafka's config resource types.
const (
	resourceTopic  = 2
	resourceBroker = 4
)

// Forward answers a Kafka request as the active controller.
func (c *Controller) Forward(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		return c.handleCreateTopics(ctx, r), nil
	case *kmsg.DeleteTopicsRequest:
		return c.handleDeleteTopics(ctx, r), nil
	case *kmsg.CreatePartitionsRequest:
		return c.handleCreatePartitions(ctx, r), nil
	case *kmsg.AlterConfigsRequest:
		return c.handleAlterConfigs(ctx, r), nil
	case *kmsg.IncrementalAlterConfigsRequest:
		return c.handleIncrementalAlterConfigs(ctx, r), nil
	case *kmsg.AllocateProducerIDsRequest:
		return c.handleAllocateProducerIDs(ctx, r), nil
	case *kmsg.BrokerRegistrationRequest:
		return c.handleBrokerRegistration(ctx, r), nil
	case *kmsg.BrokerHeartbeatRequest:
		return c.handleBrokerHeartbeat(ctx, r), nil
	case *kmsg.AlterPartitionRequest:
		return c.handleAlterPartition(ctx, r), nil
	case *kmsg.ElectLeadersRequest:
		return c.handleElectLeaders(ctx, r), nil
	case *kmsg.DescribeQuorumRequest:
		return c.handleDescribeQuorum(r), nil
	case *kmsg.AlterPartitionAssignmentsRequest:
		return c.handleAlterPartitionReassignments(ctx, r), nil
	case *kmsg.ListPartitionReassignmentsRequest:
		return c.handleListPartitionReassignments(r), nil
	case *kmsg.AddRaftVoterRequest:
		return c.handleAddRaftVoter(ctx, r), nil
	case *kmsg.RemoveRaftVoterRequest:
		return c.handleRemoveRaftVoter(ctx, r)
	}
	return nil, fmt.Errorf("%w: the controller does not answer %s", kerr.InvalidRequest, kmsg.NameForKey(req.Key()))
}

// requestCtx bounds an operation by the request's timeout, when it has one.
func requestCtx(ctx context.Context, timeoutMs int32) (context.Context, context.CancelFunc) {
	if timeoutMs > 0 {
		return context.WithTimeout(ctx, time.Duration(timeoutMs)*time.Millisecond)
	}
	return context.WithCancel(ctx)
}

func (c *Controller) handleCreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := requestCtx(ctx, req.TimeoutMillis)
	defer cancel()
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
		spec := TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: map[string]string{}}
		if len(rt.ReplicaAssignment) > 0 {
			spec.Assignments = map[int32][]int32{}
			for _, a := range rt.ReplicaAssignment {
				spec.Assignments[a.Partition] = a.Replicas
			}
		}
		for _, cf := range rt.Configs {
			if cf.Value != nil {
				spec.Configs[cf.Name] = *cf.Value
			}
		}
		t, err := c.CreateTopic(ctx, spec, req.ValidateOnly)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
		if req.Version >= 5 {
			for _, e := range config.DescribeTopic(c.cfg.Broker, t.Configs) {
				cf := kmsg.NewCreateTopicsResponseTopicConfig()
				cf.Name, cf.Value, cf.ReadOnly, cf.Source, cf.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
				if e.Sensitive {
					cf.Value = nil
				}
				st.Configs = append(st.Configs, cf)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *Controller) handleDeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := requestCtx(ctx, req.TimeoutMillis)
	defer cancel()
	type ref struct {
		name string
		id   [16]byte
	}
	var refs []ref
	if req.Version >= 6 {
		for _, t := range req.Topics {
			r := ref{id: t.TopicID}
			if t.Topic != nil {
				r.name = *t.Topic
			}
			refs = append(refs, r)
		}
	} else {
		for _, n := range req.TopicNames {
			refs = append(refs, ref{name: n})
		}
	}
	for _, r := range refs {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.TopicID = r.id
		img := c.loader.Image()
		var t *metadata.Topic
		if r.id != ([16]byte{}) {
			t = img.TopicByID(r.id)
		} else {
			t = img.Topic(r.name)
		}
		if t != nil {
			n := t.Name
			st.Topic, st.TopicID = &n, t.ID
		} else if r.name != "" {
			n := r.name
			st.Topic = &n
		}
		switch {
		case t == nil && (metadata.IsInternal(r.name) || r.name == metadata.ClusterMetadataTopic):
			// Refused whether or not it exists yet (DeleteTopic says why).
			err := c.DeleteTopic(ctx, r.name)
			st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		case t == nil && r.id != ([16]byte{}):
			st.ErrorCode = kerr.UnknownTopicID.Code
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			err := c.DeleteTopic(ctx, t.Name)
			st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *Controller) handleCreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := requestCtx(ctx, req.TimeoutMillis)
	defer cancel()
	// A topic named twice is refused, once, with INVALID_REQUEST, as
	// Kafka's ControllerApis.createPartitions does: which count would win
	// is not for the controller to guess.
	named := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		named[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if n := named[rt.Topic]; n != 1 {
			if n > 1 {
				st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("Duplicate topic name.")
				resp.Topics = append(resp.Topics, st)
				named[rt.Topic] = 0 // answered
			}
			continue
		}
		var assignments [][]int32
		if rt.Assignment != nil {
			assignments = make([][]int32, len(rt.Assignment))
			for i, a := range rt.Assignment {
				assignments[i] = a.Replicas
			}
		}
		err := c.CreatePartitions(ctx, rt.Topic, rt.Count, assignments, req.ValidateOnly)
		st.ErrorCode, st.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *Controller) handleAlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		overrides := map[string]string{}
		for _, cf := range rr.Configs {
			if cf.Value != nil {
				overrides[cf.Name] = *cf.Value
			}
		}
		err := c.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly,
			func(map[string]string) (map[string]string, error) { return overrides, nil })
		sr.ErrorCode, sr.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (c *Controller) handleIncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		ops := make([]config.AlterOp, 0, len(rr.Configs))
		for _, cf := range rr.Configs {
			op := config.AlterOp{Key: cf.Name, Op: config.OpType(cf.Op)}
			if cf.Value != nil {
				op.Value = *cf.Value
			}
			ops = append(ops, op)
		}
		alter := config.IncrementalAlter
		if rr.ResourceType == resourceBroker {
			alter = config.IncrementalAlterBroker
		}
		err := c.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly,
			func(cur map[string]string) (map[string]string, error) { return alter(cur, ops) })
		sr.ErrorCode, sr.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// alterConfigs applies one resource's config change (AlterConfigs or
// IncrementalAlterConfigs): a topic's or a broker's (its ID, or "" for
// the cluster default) through alter, which turns its current overrides
// into the new ones; of the broker keys only the dynamic ones (the
// replication throttle rates) are accepted.
func (c *Controller) alterConfigs(ctx context.Context, resourceType kmsg.ConfigResourceType, name string, validateOnly bool, alter func(map[string]string) (map[string]string, error)) error {
	switch resourceType {
	case resourceTopic:
		return c.AlterTopicConfigs(ctx, name, alter, validateOnly)
	case resourceBroker:
		return c.AlterBrokerConfigs(ctx, name, alter, validateOnly)
	default:
		return fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, resourceType)
	}
}

func (c *Controller) handleAllocateProducerIDs(ctx context.Context, req *kmsg.AllocateProducerIDsRequest) *kmsg.AllocateProducerIDsResponse {
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	first, err := c.AllocateProducerIDs(ctx, req.BrokerID, req.BrokerEpoch)
	if err != nil {
		resp.ErrorCode = protocol.ErrorCode(err)
		return resp
	}
	resp.ProducerIDStart, resp.ProducerIDLen = first, ProducerIDBlockSize
	return resp
}

// handleDescribeQuorum answers DescribeQuorum (55, v0-v2) for
// __cluster_metadata-0, the only partition of the quorum.
func (c *Controller) handleDescribeQuorum(req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	rq, ok := c.quorum.(*RaftQuorum)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			var sp kmsg.DescribeQuorumResponseTopicPartition
			if ok && rt.Topic == metadata.ClusterMetadataTopic && rp.Partition == 0 {
				sp = rq.Describe(req.Version)
			} else {
				sp = kmsg.NewDescribeQuorumResponseTopicPartition()
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Version >= 2 && ok {
		// KIP-853: the members' controller endpoints, as Kafka's
		// kafka-metadata-quorum.sh prints them.
		name := "CONTROLLER"
		if ls := c.cfg.Broker.ControllerListenerNames; len(ls) > 0 {
			name = ls[0]
		}
		voters := rq.Status().Voters
		for _, m := range rq.members() {
			if !slices.Contains(voters, m.ID) {
				continue // a learner: an observer, whose endpoint Kafka does not list
			}
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = m.ID
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = name, m.Host, m.Port
			n.Listeners = append(n.Listeners, l)
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return resp
}
