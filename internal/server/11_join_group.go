package server

// JoinGroup (key 11), v0-v9, classic protocol, served by the group
// coordinator (internal/group: join.go lists its behaviour). The member's
// client ID and host, shown by DescribeGroups, come from the request header
// and the connection's remote address. The response may wait up to the
// rebalance timeout; it is sent from the connection's writer, so the
// connection's later responses wait behind it, as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/group"
)

func (b *Broker) handleJoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, client group.Client) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.JoinGroup(ctx, req, client) })
}
