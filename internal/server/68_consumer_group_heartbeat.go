package server

// ConsumerGroupHeartbeat (key 68), v0-v1: the consumer group protocol of
// KIP-848, served by the group coordinator (internal/group, consumer.go,
// over internal/consumergroup). When group.coordinator.rebalance.protocols
// leaves out "consumer" the request is answered UNSUPPORTED_VERSION, on
// which clients (franz-go, librdkafka, the Java client) fall back to the
// classic protocol, as they do against Kafka with the protocol disabled.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/group"
)

func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, client group.Client) *inflight {
	if !slices.Contains(b.cfg.Broker.GroupRebalanceProtocols, "consumer") {
		resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
		resp.Version = req.Version
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		msg := "the consumer group protocol is disabled (group.coordinator.rebalance.protocols)"
		resp.ErrorMessage = &msg
		return &inflight{resp: resp}
	}
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response {
		return b.groups.ConsumerGroupHeartbeat(ctx, req, client)
	})
}
