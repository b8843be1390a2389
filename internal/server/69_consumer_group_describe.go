package server

// ConsumerGroupDescribe (key 69), v0-v1: groups of the consumer protocol
// (KIP-848) with their epochs, members, current and target assignments. A
// classic group answers GROUP_ID_NOT_FOUND ("not a consumer group"), so
// admin tools fall back to DescribeGroups, as against Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.ConsumerGroupDescribe(ctx, req) })
}
