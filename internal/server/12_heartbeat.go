package server

// Heartbeat (key 12), v0-v4, served by the group coordinator
// (internal/group, heartbeat.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleHeartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.Heartbeat(ctx, req) })
}
