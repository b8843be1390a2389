package server

// CreateTopics (key 19), v0-v7, DeleteTopics (key 20), v0-v6,
// CreatePartitions (key 37), v0-v3, AlterConfigs (key 33), v0-v2,
// IncrementalAlterConfigs (key 44), v0-v1, ElectLeaders (key 43), v0-v2,
// and DescribeQuorum (key 55), v0-v2: forwarded as they are to the active controller, which validates
// and answers them (internal/controller/admin.go, replication.go), as
// Kafka's brokers forward them (KIP-590). The answer is returned once this
// broker's metadata includes the change, so the client's next request here
// sees it. A controller that cannot be reached before the request's
// timeout answers every resource with NOT_CONTROLLER or REQUEST_TIMED_OUT.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/protocol"
)

// forward sends req to the active controller; on failure it returns nil
// and the error's code and message for the caller to spread over the
// response.
func (b *Broker) forward(req kmsg.Request, timeoutMs int32) (kmsg.Response, int16, *string) {
	ctx, cancel := adminCtx(timeoutMs)
	defer cancel()
	resp, err := b.ctrl.Forward(ctx, req)
	if err != nil {
		b.logger.Warn("forwarding to the controller failed", "api", kmsg.NameForKey(req.Key()), "err", err)
		return nil, protocol.ErrorCode(err), protocol.ErrorMessage(err)
	}
	return resp, 0, nil
}

func (b *Broker) handleCreateTopics(req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp, code, msg := b.forward(req, req.TimeoutMillis)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic, st.ErrorCode, st.ErrorMessage = rt.Topic, code, msg
		st.NumPartitions, st.ReplicationFactor = -1, -1
		out.Topics = append(out.Topics, st)
	}
	return out
}

func (b *Broker) handleDeleteTopics(req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp, code, msg := b.forward(req, req.TimeoutMillis)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	for _, n := range req.TopicNames {
		st := kmsg.NewDeleteTopicsResponseTopic()
		name := n
		st.Topic, st.ErrorCode, st.ErrorMessage = &name, code, msg
		out.Topics = append(out.Topics, st)
	}
	for _, t := range req.Topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID, st.ErrorCode, st.ErrorMessage = t.Topic, t.TopicID, code, msg
		out.Topics = append(out.Topics, st)
	}
	return out
}

func (b *Broker) handleCreatePartitions(req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp, code, msg := b.forward(req, req.TimeoutMillis)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic, st.ErrorCode, st.ErrorMessage = rt.Topic, code, msg
		out.Topics = append(out.Topics, st)
	}
	return out
}

func (b *Broker) handleAlterConfigs(req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp, code, msg := b.forward(req, 0)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName, sr.ErrorCode, sr.ErrorMessage = rr.ResourceType, rr.ResourceName, code, msg
		out.Resources = append(out.Resources, sr)
	}
	return out
}

func (b *Broker) handleIncrementalAlterConfigs(req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp, code, msg := b.forward(req, 0)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName, sr.ErrorCode, sr.ErrorMessage = rr.ResourceType, rr.ResourceName, code, msg
		out.Resources = append(out.Resources, sr)
	}
	return out
}

func (b *Broker) handleElectLeaders(req *kmsg.ElectLeadersRequest) kmsg.Response {
	resp, code, _ := b.forward(req, req.TimeoutMillis)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	out.ErrorCode = code
	return out
}

// handleDescribeQuorum answers DescribeQuorum (key 55, v0-v2) from the
// active controller, as Kafka's brokers forward it.
func (b *Broker) handleDescribeQuorum(req *kmsg.DescribeQuorumRequest) kmsg.Response {
	resp, code, msg := b.forward(req, 0)
	if resp != nil {
		return resp
	}
	out := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	out.ErrorCode, out.ErrorMessage = code, msg
	return out
}

// createTopic creates a topic through the controller (auto-creation and
// the internal topics) and returns it from this broker's metadata.
func (b *Broker) createTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) (*kmsg.CreateTopicsResponseTopic, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := b.ctrl.Forward(ctx, req)
	if err != nil {
		return nil, err
	}
	st := resp.(*kmsg.CreateTopicsResponse).Topics[0]
	return &st, nil
}

// ensureTopic creates a topic through the controller unless it exists
// (auto-creation and the internal topics), and returns it from this
// broker's metadata.
func (b *Broker) ensureTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) (*metadata.Topic, error) {
	if t := b.meta.Image().Topic(name); t != nil {
		return t, nil
	}
	st, err := b.createTopic(ctx, name, partitions, rf, configs)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(st.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		if st.ErrorMessage != nil {
			return nil, fmt.Errorf("%w: %s", err, *st.ErrorMessage)
		}
		return nil, err
	}
	if t := b.meta.Image().Topic(name); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: topic %s was created but is not in this broker's metadata yet", kerr.LeaderNotAvailable, name)
}
