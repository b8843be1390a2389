package group

// DescribeGroups (key 15) v0-v6, ListGroups (key 16) v0-v5 and DeleteGroups
// (key 42) v0-v2, for the groups of this partition. DescribeGroups of an
// unknown group answers state Dead without error, as Kafka does (v6+:
// GROUP_ID_NOT_FOUND, KIP-1043); member
// metadata is shown only for Stable groups. ListGroups filters by state
// (v4+, case-insensitive) and type (v5+: every group here is "classic").
// DeleteGroups removes Empty groups with their offsets (tombstones for each
// offset, then for the group), refusing others with NON_EMPTY_GROUP and
// unknown ones with GROUP_ID_NOT_FOUND. Authorized operations (v3+) are not
// computed (Fjord has no ACLs yet): the field keeps Kafka's "not requested"
// value.

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// DescribeGroups handles a DescribeGroups request.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest, _ time.Time) coordinator.Result {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, c.describe(id, req.Version))
	}
	return coordinator.Result{Response: resp}
}

func (c *Coordinator) describe(id string, version int16) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group = id
	if !c.owns(id) {
		d.ErrorCode = errNotCoordinator
		return d
	}
	g := c.groups[id]
	if g == nil && c.consumer.Get(id) != nil {
		// Kafka answers the classic API this way for a consumer protocol
		// group: Dead before v6, GROUP_ID_NOT_FOUND from v6 (KIP-1043);
		// ConsumerGroupDescribe describes it.
		d.State = Dead.String()
		if version >= 6 {
			d.ErrorCode = errGroupIDNotFound
			d.ErrorMessage = strPtr("Group " + id + " is not a classic group.")
		}
		return d
	}
	if g == nil {
		d.State = Dead.String()
		if version >= 6 {
			// KIP-1043: v6 says so instead of describing a Dead group.
			d.ErrorCode = errGroupIDNotFound
			d.ErrorMessage = strPtr("group " + id + " not found")
		}
		return d
	}
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	if g.state == Stable {
		d.Protocol = g.protocol
	}
	for _, m := range g.allMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.MemberAssignment = m.assignment
		if g.state == Stable {
			dm.ProtocolMetadata = m.metadata(g.protocol)
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// ListGroups handles a ListGroups request for this partition's groups.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest, _ time.Time) coordinator.Result {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	resp.Groups = c.listGroups(req.StatesFilter, req.TypesFilter)
	return coordinator.Result{Response: resp}
}

func (c *Coordinator) listGroups(statesFilter, typesFilter []string) []kmsg.ListGroupsResponseGroup {
	wantState := func(state string) bool {
		return len(statesFilter) == 0 || slices.ContainsFunc(statesFilter, func(s string) bool {
			return strings.EqualFold(strings.TrimSpace(s), state)
		})
	}
	wantType := func(typ string) bool {
		return len(typesFilter) == 0 || slices.ContainsFunc(typesFilter, func(t string) bool {
			return strings.EqualFold(strings.TrimSpace(t), typ)
		})
	}
	out := []kmsg.ListGroupsResponseGroup{}
	if wantType("classic") {
		for _, id := range c.sortedGroupIDs() {
			g := c.groups[id]
			if !wantState(g.state.String()) {
				continue
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group = id
			lg.ProtocolType = g.protocolType
			lg.GroupState = g.state.String()
			lg.GroupType = "classic"
			out = append(out, lg)
		}
	}
	if wantType("consumer") {
		for _, id := range c.consumer.IDs() {
			state := string(c.consumer.Get(id).State())
			if !wantState(state) {
				continue
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group = id
			lg.ProtocolType = consumerProtocolType
			lg.GroupState = state
			lg.GroupType = "consumer"
			out = append(out, lg)
		}
		slices.SortFunc(out, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	}
	return out
}

// DeleteGroups handles a DeleteGroups request.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest, _ time.Time) coordinator.Result {
	var out coordinator.Result
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	out.Response = resp
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		g := c.groups[id]
		cg := c.consumer.Get(id)
		switch {
		case !c.owns(id):
			rg.ErrorCode = errNotCoordinator
		case cg != nil && !cg.Empty():
			rg.ErrorCode = errNonEmptyGroup
		case cg != nil:
			c.deleteAllOffsets(id, &out)
			consumerRecords(c.consumer.Delete(id), &out)
		case g == nil:
			rg.ErrorCode = errGroupIDNotFound
		case g.state != Empty:
			rg.ErrorCode = errNonEmptyGroup
		default:
			c.deleteAllOffsets(id, &out)
			out.Records = append(out.Records, groupTombstone(id))
			c.deleteGroup(id)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return out
}

// deleteAllOffsets forgets every offset of a group, writing tombstones in
// topic and partition order.
func (c *Coordinator) deleteAllOffsets(groupID string, out *coordinator.Result) {
	for _, tp := range sortedPartitions(c.offsets[groupID]) {
		c.deleteOffset(groupID, tp, out)
	}
}

func sortedPartitions(offs map[topicPartition]offsetValue) []topicPartition {
	tps := make([]topicPartition, 0, len(offs))
	for tp := range offs {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})
	return tps
}
