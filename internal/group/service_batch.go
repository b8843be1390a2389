package group

// Requests naming several groups, which may live on several partitions:
// one sub-request per partition is queued on its Runtime (all first, then
// all awaited, so the partitions work in parallel), and the answers are put
// back in request order. A partition not served here answers its groups
// NOT_COORDINATOR, one loading COORDINATOR_LOAD_IN_PROGRESS.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// batch is the part of a batched request one partition answers.
type batch struct {
	indices []int // positions of its groups in the request
	groups  []string
	pending *coordinator.Pending
	err     error
}

// fanOut queues op(indices, groups) on the partition of each group.
func (s *Service) fanOut(groups []string, op func(indices []int, groups []string) coordinator.Op[*Coordinator]) []*batch {
	byPartition := map[int32]*batch{}
	var order []*batch
	for i, g := range groups {
		p := s.PartitionFor(g)
		b := byPartition[p]
		if b == nil {
			b = &batch{}
			byPartition[p] = b
			order = append(order, b)
		}
		b.indices = append(b.indices, i)
		b.groups = append(b.groups, g)
	}
	for p, b := range byPartition {
		b.pending, b.err = s.submit(p, op(b.indices, b.groups))
	}
	return order
}

// wait returns the batch's response, or the error code for all its groups.
func (b *batch) wait(ctx context.Context) (any, int16) {
	if b.err != nil {
		return nil, CodeFor(b.err)
	}
	resp, err := b.pending.Wait(ctx)
	if err != nil {
		return nil, CodeFor(err)
	}
	return resp, errNone
}

// OffsetFetch (key 9), v0-v9 (topics by name; v8+ batches groups).
func (s *Service) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	if req.Version < 8 {
		resp, err := s.do(ctx, req.Group, func(c *Coordinator, now time.Time) coordinator.Result {
			return c.OffsetFetch(req, now)
		})
		if err != nil {
			return offsetFetchError(req, CodeFor(err))
		}
		return resp.(*kmsg.OffsetFetchResponse)
	}
	groups := make([]string, len(req.Groups))
	for i, g := range req.Groups {
		groups[i] = g.Group
	}
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	resp.Groups = make([]kmsg.OffsetFetchResponseGroup, len(req.Groups))
	batches := s.fanOut(groups, func(indices []int, _ []string) coordinator.Op[*Coordinator] {
		// Each partition's sub-request carries its own groups' topics.
		sub := *req
		sub.Groups = make([]kmsg.OffsetFetchRequestGroup, len(indices))
		for j, i := range indices {
			sub.Groups[j] = req.Groups[i]
		}
		return func(c *Coordinator, now time.Time) coordinator.Result { return c.OffsetFetch(&sub, now) }
	})
	for _, b := range batches {
		r, code := b.wait(ctx)
		for j, i := range b.indices {
			if code != errNone {
				g := kmsg.NewOffsetFetchResponseGroup()
				g.Group, g.ErrorCode = req.Groups[i].Group, code
				resp.Groups[i] = g
				continue
			}
			resp.Groups[i] = r.(*kmsg.OffsetFetchResponse).Groups[j]
		}
	}
	return resp
}

// offsetFetchError answers a v0-v7 OffsetFetch with a coordinator error:
// top-level from v2, on every requested partition before.
func offsetFetchError(req *kmsg.OffsetFetchRequest, code int16) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	if req.Version >= 2 {
		resp.ErrorCode = code
		return resp
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata, rp.ErrorCode = p, -1, strPtr(""), code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// DescribeGroups (key 15).
func (s *Service) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	resp.Groups = perGroup(ctx, s, req.Groups,
		func(groups []string) coordinator.Op[*Coordinator] {
			sub := *req
			sub.Groups = groups
			return func(c *Coordinator, now time.Time) coordinator.Result { return c.DescribeGroups(&sub, now) }
		},
		func(r any, j int) kmsg.DescribeGroupsResponseGroup { return r.(*kmsg.DescribeGroupsResponse).Groups[j] },
		func(group string, code int16) kmsg.DescribeGroupsResponseGroup {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group, g.ErrorCode = group, code
			return g
		})
	return resp
}

// DeleteGroups (key 42).
func (s *Service) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	resp.Groups = perGroup(ctx, s, req.Groups,
		func(groups []string) coordinator.Op[*Coordinator] {
			sub := *req
			sub.Groups = groups
			return func(c *Coordinator, now time.Time) coordinator.Result { return c.DeleteGroups(&sub, now) }
		},
		func(r any, j int) kmsg.DeleteGroupsResponseGroup { return r.(*kmsg.DeleteGroupsResponse).Groups[j] },
		func(group string, code int16) kmsg.DeleteGroupsResponseGroup {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = group, code
			return g
		})
	return resp
}

// perGroup runs a request that names groups on each group's partition and
// assembles one entry per group in request order: pick takes entry j of a
// partition's response, failed builds the entry of a group whose partition
// could not answer.
func perGroup[E any](ctx context.Context, s *Service, groups []string,
	op func(groups []string) coordinator.Op[*Coordinator],
	pick func(resp any, j int) E, failed func(group string, code int16) E,
) []E {
	out := make([]E, len(groups))
	batches := s.fanOut(groups, func(_ []int, gs []string) coordinator.Op[*Coordinator] { return op(gs) })
	for _, b := range batches {
		r, code := b.wait(ctx)
		for j, i := range b.indices {
			if code != errNone {
				out[i] = failed(groups[i], code)
				continue
			}
			out[i] = pick(r, j)
		}
	}
	return out
}

// ListGroups (key 16): the groups of every partition served here. A
// partition still loading makes the answer COORDINATOR_LOAD_IN_PROGRESS,
// with the groups of the others, as Kafka answers.
func (s *Service) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	resp.Groups = []kmsg.ListGroupsResponseGroup{}
	var batches []*batch
	for _, p := range s.loadedPartitions() {
		b := &batch{}
		b.pending, b.err = s.submit(p, func(c *Coordinator, now time.Time) coordinator.Result {
			return c.ListGroups(req, now)
		})
		batches = append(batches, b)
	}
	for _, b := range batches {
		r, code := b.wait(ctx)
		if code != errNone {
			if resp.ErrorCode == errNone {
				resp.ErrorCode = code
			}
			continue
		}
		resp.Groups = append(resp.Groups, r.(*kmsg.ListGroupsResponse).Groups...)
	}
	return resp
}

// ConsumerGroupDescribe (key 69).
func (s *Service) ConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.Version = req.Version
	resp.Groups = perGroup(ctx, s, req.Groups,
		func(groups []string) coordinator.Op[*Coordinator] {
			sub := *req
			sub.Groups = groups
			return func(c *Coordinator, now time.Time) coordinator.Result { return c.ConsumerGroupDescribe(&sub, now) }
		},
		func(r any, j int) kmsg.ConsumerGroupDescribeResponseGroup {
			return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[j]
		},
		func(group string, code int16) kmsg.ConsumerGroupDescribeResponseGroup {
			g := kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group, g.ErrorCode = group, code
			return g
		})
	return resp
}
