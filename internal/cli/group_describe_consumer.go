package cli

// Groups of the consumer protocol (KIP-848) are not described by
// DescribeGroups (Kafka answers GROUP_ID_NOT_FOUND from v6, Dead before), so
// `group describe` and `group reset-offsets` ask ConsumerGroupDescribe for
// the groups DescribeGroups did not know, as Kafka 4's admin client does,
// and work out the lag from the committed offsets and the log end offsets.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// describeConsumerGroup describes one consumer protocol group; found is
// false when the broker does not know it as one (or cannot describe such
// groups).
func describeConsumerGroup(ctx context.Context, adm *kadm.Client, group string) (d groupDescribeJSON, found bool, err error) {
	described, derr := adm.DescribeConsumerGroups(ctx, group)
	cg, ok := described[group]
	switch {
	case !ok && derr != nil:
		// A broker without ConsumerGroupDescribe: not a consumer group.
		return d, false, nil
	case !ok, errors.Is(cg.Err, kerr.GroupIDNotFound), errors.Is(cg.Err, kerr.UnsupportedVersion):
		return d, false, nil
	case cg.Err != nil:
		return d, true, groupErr(fmt.Sprintf("describe consumer group %q", group), cg.Err, "")
	}
	d = groupDescribeJSON{
		Group: group, State: cg.State, ProtocolType: "consumer", Protocol: cg.AssignorName,
		Coordinator: groupCoordinatorJSON{ID: cg.Coordinator.NodeID, Host: cg.Coordinator.Host, Port: cg.Coordinator.Port},
		Partitions:  []groupPartitionJSON{}, Members: []groupMemberJSON{},
	}
	owner := map[string]map[int32]kadm.ConsumerGroupMember{}
	topics := kadm.TopicsSet{}
	for _, m := range cg.Members {
		mj := groupMemberJSON{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if m.InstanceID != nil {
			mj.InstanceID = *m.InstanceID
		}
		m.Assignment.Each(func(t string, p int32) {
			mj.Assigned[t] = append(mj.Assigned[t], p)
			if owner[t] == nil {
				owner[t] = map[int32]kadm.ConsumerGroupMember{}
			}
			owner[t][p] = m
			topics.Add(t, p)
		})
		for _, ps := range mj.Assigned {
			slices.Sort(ps)
		}
		d.Members = append(d.Members, mj)
	}
	commits, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return d, true, groupErr(fmt.Sprintf("fetch committed offsets of %q", group), err, "")
	}
	commits.Each(func(o kadm.OffsetResponse) { topics.Add(o.Topic, o.Partition) })
	if len(topics) == 0 {
		return d, true, nil // no topics: kadm would list every topic's end offsets
	}
	ends, err := adm.ListEndOffsets(ctx, topics.Topics()...)
	if err != nil {
		return d, true, groupErr("list end offsets", err, "")
	}
	for _, tp := range topics.Sorted() {
		for _, p := range tp.Partitions {
			row := groupPartitionJSON{Topic: tp.Topic, Partition: p}
			if c, ok := commits.Lookup(tp.Topic, p); ok && c.Err == nil && c.At >= 0 {
				row.CommittedOffset = int64Ptr(c.At)
			}
			if e, ok := ends.Lookup(tp.Topic, p); ok && e.Err == nil {
				row.LogEndOffset = int64Ptr(e.Offset)
			} else if ok {
				row.Error = errName(e.Err)
			}
			if row.CommittedOffset != nil && row.LogEndOffset != nil {
				lag := max(0, *row.LogEndOffset-*row.CommittedOffset)
				row.Lag = int64Ptr(lag)
				d.TotalLag += lag
			}
			if m, ok := owner[tp.Topic][p]; ok {
				row.MemberID, row.ClientID, row.Host = m.MemberID, m.ClientID, m.ClientHost
			}
			d.Partitions = append(d.Partitions, row)
		}
	}
	return d, true, nil
}
