package server

// DescribeGroups (key 15), v0-v6, served by the group coordinator
// (internal/group, describe.go). Authorized operations are not computed
// (no ACLs yet).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.DescribeGroups(ctx, req) })
}
