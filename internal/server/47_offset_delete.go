package server

// OffsetDelete (key 47), v0, served by the group coordinator
// (internal/group, offsets.go): offsets of partitions the group is not
// subscribed to are deleted; subscribed ones get
// GROUP_SUBSCRIBED_TO_TOPIC.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleOffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.OffsetDelete(ctx, req) })
}
