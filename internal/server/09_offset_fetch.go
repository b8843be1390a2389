package server

// OffsetFetch (key 9), v0-v9 (v8+ batches groups; topics by name, so v10's
// topic IDs are not served yet), answered by the group coordinator
// (internal/group, offsets.go). Partitions without a committed offset are
// answered offset -1, as Kafka does, whether the topic exists or not.
//
// Departure from Kafka: require_stable (v7+) is accepted but has no effect:
// there are no transactional offset commits yet, so nothing is pending.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleOffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *inflight {
	return b.groupCall(ctx, func(ctx context.Context) kmsg.Response { return b.groups.OffsetFetch(ctx, req) })
}
