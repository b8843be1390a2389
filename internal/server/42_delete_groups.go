package server

// DeleteGroups (key 42), v0-v2: Empty groups are deleted with their
// committed offsets (internal/group, describe.go); others get
// NON_EMPTY_GROUP, unknown ones GROUP_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.DeleteGroups(ctx, req) })
}
