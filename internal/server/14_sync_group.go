package server

// SyncGroup (key 14), v0-v5, served by the group coordinator
// (internal/group, sync.go). A follower's response waits for the leader's
// SyncGroup, from the connection's writer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleSyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.SyncGroup(ctx, req) })
}
