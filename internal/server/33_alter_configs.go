package server

// AlterConfigs (key 33), v0-v2, and IncrementalAlterConfigs (key 44),
// v0-v1, for topics: the new overrides are validated, persisted and applied
// to the topic's partitions at once (segment, retention, flush and size
// settings take effect live). AlterConfigs replaces the whole override set,
// as Kafka's does. Dynamic broker configs are refused for now.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/protocol"
)

var errBrokerConfigsStatic = fmt.Errorf("%w: dynamic broker configs are not supported yet; set them in server.properties", config.ErrInvalidConfig)

func (b *Broker) handleAlterConfigs(req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		switch kmsg.ConfigResourceType(rr.ResourceType) {
		case resourceTopic:
			overrides := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value != nil {
					overrides[c.Name] = *c.Value
				}
			}
			err = b.alterExisting(rr.ResourceName, func(map[string]string) (map[string]string, error) { return overrides, nil }, req.ValidateOnly)
		case resourceBroker:
			err = errBrokerConfigsStatic
		default:
			err = fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, rr.ResourceType)
		}
		sr.ErrorCode, sr.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) handleIncrementalAlterConfigs(req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		switch kmsg.ConfigResourceType(rr.ResourceType) {
		case resourceTopic:
			ops := make([]config.AlterOp, 0, len(rr.Configs))
			for _, c := range rr.Configs {
				op := config.AlterOp{Key: c.Name, Op: config.OpType(c.Op)}
				if c.Value != nil {
					op.Value = *c.Value
				}
				ops = append(ops, op)
			}
			err = b.alterExisting(rr.ResourceName, func(cur map[string]string) (map[string]string, error) {
				return config.IncrementalAlter(cur, ops)
			}, req.ValidateOnly)
		case resourceBroker:
			err = errBrokerConfigsStatic
		default:
			err = fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, rr.ResourceType)
		}
		sr.ErrorCode, sr.ErrorMessage = protocol.ErrorCode(err), protocol.ErrorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) alterExisting(topic string, change func(map[string]string) (map[string]string, error), validateOnly bool) error {
	ctx, cancel := adminCtx(0)
	defer cancel()
	return b.ctrl.AlterTopicConfigs(ctx, topic, change, validateOnly)
}
