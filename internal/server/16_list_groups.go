package server

// ListGroups (key 16), v0-v5: the groups of every __consumer_offsets
// partition loaded here (v4+ filters by state, v5+ by type; every group is
// "classic"). A partition still loading makes the answer
// COORDINATOR_LOAD_IN_PROGRESS alongside the other partitions' groups.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.ListGroups(ctx, req) })
}
