package server

// LeaveGroup (key 13), v0-v5 (v3+ batches members), served by the group
// coordinator (internal/group, leave.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleLeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.LeaveGroup(ctx, req) })
}
