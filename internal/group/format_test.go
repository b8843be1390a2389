package group

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/coordinator"
)

// consumerSubscription encodes a consumer protocol v0 subscription.
func consumerSubscription(topics []string, userData string) []byte {
	b := binary.BigEndian.AppendUint16(nil, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(topics)))
	for _, t := range topics {
		b = binary.BigEndian.AppendUint16(b, uint16(len(t)))
		b = append(b, t...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(userData)))
	return append(b, userData...)
}

// parseProtocols reads "range:t1+t2#ud,sticky:t1": protocol name, the
// subscribed topics, and optional user data (to change metadata).
func parseProtocols(s string) []kmsg.JoinGroupRequestProtocol {
	if s == "-" {
		return nil
	}
	var out []kmsg.JoinGroupRequestProtocol
	for _, p := range strings.Split(s, ",") {
		name, rest, _ := strings.Cut(p, ":")
		rest, ud, _ := strings.Cut(rest, "#")
		var topics []string
		if rest != "" {
			topics = strings.Split(rest, "+")
		}
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = name, consumerSubscription(topics, ud)
		out = append(out, jp)
	}
	return out
}

// parseFetchTopics reads "t1/0+1,t2/0".
func parseFetchTopics(s string) []kmsg.OffsetFetchRequestTopic {
	if s == "" {
		return nil
	}
	var out []kmsg.OffsetFetchRequestTopic
	for _, t := range strings.Split(s, ",") {
		name, ps, _ := strings.Cut(t, "/")
		ft := kmsg.NewOffsetFetchRequestTopic()
		ft.Topic = name
		for _, p := range strings.Split(ps, "+") {
			n, _ := strconv.Atoi(p)
			ft.Partitions = append(ft.Partitions, int32(n))
		}
		out = append(out, ft)
	}
	return out
}

// parseCommitOffsets reads "t1/0@10,t1/1@20".
func parseCommitOffsets(s string, meta *string) []kmsg.OffsetCommitRequestTopic {
	var out []kmsg.OffsetCommitRequestTopic
	for _, o := range strings.Split(s, ",") {
		tp, off, _ := strings.Cut(o, "@")
		name, p, _ := strings.Cut(tp, "/")
		pn, _ := strconv.Atoi(p)
		on, _ := strconv.ParseInt(off, 10, 64)
		i := slices.IndexFunc(out, func(t kmsg.OffsetCommitRequestTopic) bool { return t.Topic == name })
		if i < 0 {
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic = name
			out = append(out, t)
			i = len(out) - 1
		}
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset, cp.Metadata = int32(pn), on, meta
		out[i].Partitions = append(out[i].Partitions, cp)
	}
	return out
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return fmt.Sprintf("code(%d)", code)
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// fmtMeta shows a consumer subscription as (t1,t2#ud).
func fmtMeta(b []byte) string {
	ts, ok := subscriptionTopics(b)
	if !ok {
		return fmt.Sprintf("%q", b)
	}
	s := strings.Join(ts, ",")
	rest := b[6:]
	for _, t := range ts {
		rest = rest[2+len(t):]
	}
	if len(rest) > 4 && len(rest[4:]) > 0 {
		s += "#" + string(rest[4:])
	}
	return "(" + s + ")"
}

func (h *harness) rel(t time.Time) string {
	return "+" + t.Sub(scriptStart).String()
}

func (h *harness) fmtResponse(resp any) []string {
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		s := fmt.Sprintf("JoinGroup %s gen=%d type=%s proto=%s leader=%s member=%s",
			codeName(r.ErrorCode), r.Generation, deref(r.ProtocolType), deref(r.Protocol), r.LeaderID, r.MemberID)
		if r.SkipAssignment {
			s += " skip-assignment"
		}
		if len(r.Members) > 0 {
			var ms []string
			for _, m := range r.Members {
				id := m.MemberID
				if m.InstanceID != nil {
					id += "/" + *m.InstanceID
				}
				ms = append(ms, id+fmtMeta(m.ProtocolMetadata))
			}
			s += " members=[" + strings.Join(ms, " ") + "]"
		}
		return []string{s}
	case *kmsg.SyncGroupResponse:
		return []string{fmt.Sprintf("SyncGroup %s type=%s proto=%s assignment=%q",
			codeName(r.ErrorCode), deref(r.ProtocolType), deref(r.Protocol), r.MemberAssignment)}
	case *kmsg.HeartbeatResponse:
		return []string{"Heartbeat " + codeName(r.ErrorCode)}
	case *kmsg.LeaveGroupResponse:
		s := "LeaveGroup " + codeName(r.ErrorCode)
		for _, m := range r.Members {
			s += fmt.Sprintf(" %s/%s:%s", m.MemberID, deref(m.InstanceID), codeName(m.ErrorCode))
		}
		return []string{s}
	case *kmsg.OffsetCommitResponse:
		s := "OffsetCommit"
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d:%s", t.Topic, p.Partition, codeName(p.ErrorCode))
			}
		}
		return []string{s}
	case *kmsg.OffsetFetchResponse:
		if r.Version >= 8 {
			var out []string
			for _, g := range r.Groups {
				s := fmt.Sprintf("OffsetFetch %s %s", g.Group, codeName(g.ErrorCode))
				for _, t := range g.Topics {
					for _, p := range t.Partitions {
						s += fmt.Sprintf(" %s/%d@%d(epoch=%d meta=%q %s)", t.Topic, p.Partition, p.Offset, p.LeaderEpoch, deref(p.Metadata), codeName(p.ErrorCode))
					}
				}
				out = append(out, s)
			}
			return out
		}
		s := "OffsetFetch " + codeName(r.ErrorCode)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d@%d(epoch=%d meta=%q %s)", t.Topic, p.Partition, p.Offset, p.LeaderEpoch, deref(p.Metadata), codeName(p.ErrorCode))
			}
		}
		return []string{s}
	case *kmsg.DescribeGroupsResponse:
		var out []string
		for _, g := range r.Groups {
			out = append(out, fmt.Sprintf("DescribeGroups %s %s state=%s type=%q proto=%q",
				g.Group, codeName(g.ErrorCode), g.State, g.ProtocolType, g.Protocol))
			for _, m := range g.Members {
				meta := "-"
				if m.ProtocolMetadata != nil {
					meta = fmtMeta(m.ProtocolMetadata)
				}
				out = append(out, fmt.Sprintf("  member %s inst=%s client=%s host=%s meta=%s assignment=%q",
					m.MemberID, deref(m.InstanceID), m.ClientID, m.ClientHost, meta, m.MemberAssignment))
			}
		}
		return out
	case *kmsg.ListGroupsResponse:
		s := "ListGroups " + codeName(r.ErrorCode)
		for _, g := range r.Groups {
			s += fmt.Sprintf(" %s(%s,%q,%s)", g.Group, g.GroupState, g.ProtocolType, g.GroupType)
		}
		return []string{s}
	case *kmsg.DeleteGroupsResponse:
		s := "DeleteGroups"
		for _, g := range r.Groups {
			s += fmt.Sprintf(" %s:%s", g.Group, codeName(g.ErrorCode))
		}
		return []string{s}
	case *kmsg.OffsetDeleteResponse:
		s := "OffsetDelete " + codeName(r.ErrorCode)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d:%s", t.Topic, p.Partition, codeName(p.ErrorCode))
			}
		}
		return []string{s}
	}
	return []string{fmt.Sprintf("%T", resp)}
}

// fmtRecord decodes a record with kmsg's decoders, as an external tool
// reading __consumer_offsets would.
func (h *harness) fmtRecord(r coordinator.Record) string {
	ver := int16(binary.BigEndian.Uint16(r.Key))
	switch ver {
	case 0, 1:
		k := kmsg.NewOffsetCommitKey()
		if err := k.ReadFrom(r.Key); err != nil {
			h.t.Fatalf("offset key: %v", err)
		}
		if r.Value == nil {
			return fmt.Sprintf("OffsetCommit(k%d) %s %s/%d tombstone", k.Version, k.Group, k.Topic, k.Partition)
		}
		v := kmsg.NewOffsetCommitValue()
		if err := v.ReadFrom(r.Value); err != nil {
			h.t.Fatalf("offset value: %v", err)
		}
		s := fmt.Sprintf("OffsetCommit(k%d,v%d) %s %s/%d offset=%d epoch=%d meta=%q at=%s",
			k.Version, v.Version, k.Group, k.Topic, k.Partition, v.Offset, v.LeaderEpoch, v.Metadata,
			h.rel(time.UnixMilli(v.CommitTimestamp)))
		if v.Version == 1 {
			s += " expire=" + h.rel(time.UnixMilli(v.ExpireTimestamp))
		}
		return s
	case 2:
		k := kmsg.NewGroupMetadataKey()
		if err := k.ReadFrom(r.Key); err != nil {
			h.t.Fatalf("group key: %v", err)
		}
		if r.Value == nil {
			return fmt.Sprintf("GroupMetadata(k%d) %s tombstone", k.Version, k.Group)
		}
		v := kmsg.NewGroupMetadataValue()
		if err := v.ReadFrom(r.Value); err != nil {
			h.t.Fatalf("group value: %v", err)
		}
		s := fmt.Sprintf("GroupMetadata(k%d,v%d) %s type=%q gen=%d proto=%s leader=%s at=%s",
			k.Version, v.Version, k.Group, v.ProtocolType, v.Generation, deref(v.Protocol), deref(v.Leader),
			h.rel(time.UnixMilli(v.CurrentStateTimestamp)))
		for _, m := range v.Members {
			s += fmt.Sprintf(" [%s inst=%s client=%s host=%s session=%d rebalance=%d sub=%s assignment=%q]",
				m.MemberID, deref(m.InstanceID), m.ClientID, m.ClientHost, m.SessionTimeoutMillis,
				m.RebalanceTimeoutMillis, fmtMeta(m.Subscription), m.Assignment)
		}
		return s
	}
	return fmt.Sprintf("unknown key version %d", ver)
}

// dumpState shows every group's internal state, soft state included.
func (h *harness) dumpState() []string {
	var out []string
	for _, id := range h.c.sortedGroupIDs() {
		g := h.c.groups[id]
		out = append(out, fmt.Sprintf("group %s %s gen=%d type=%q proto=%q leader=%q since=%s",
			id, g.state, g.generation, g.protocolType, g.protocol, g.leader, h.relOrZero(g.stateTime)))
		for _, m := range g.allMembers() {
			s := "  member " + m.id
			if m.instanceID != nil {
				s += " inst=" + *m.instanceID
			}
			if m.joinWait != 0 {
				s += fmt.Sprintf(" join-wait=h%d", m.joinWait)
			}
			if m.syncWait != 0 {
				s += fmt.Sprintf(" sync-wait=h%d", m.syncWait)
			}
			if m.isNew {
				s += " new"
			}
			if g.pendingSync[m.id] {
				s += " pending-sync"
			}
			if at, ok := h.c.timers.at(timerKey{kind: timerHeartbeat, group: id, member: m.id}); ok {
				s += " session-until=" + h.rel(at)
			}
			s += fmt.Sprintf(" assignment=%q", m.assignment)
			out = append(out, s)
		}
		var pend []string
		for p := range g.pending {
			pend = append(pend, p)
		}
		slices.Sort(pend)
		for _, p := range pend {
			out = append(out, "  pending "+p)
		}
		if at, ok := h.c.timers.at(timerKey{kind: timerJoin, group: id}); ok {
			out = append(out, "  join-timer "+h.rel(at))
		}
		if at, ok := h.c.timers.at(timerKey{kind: timerSync, group: id}); ok {
			out = append(out, "  sync-timer "+h.rel(at))
		}
	}
	var gs []string
	for g := range h.c.offsets {
		gs = append(gs, g)
	}
	slices.Sort(gs)
	for _, g := range gs {
		for _, tp := range sortedPartitions(h.c.offsets[g]) {
			o := h.c.offsets[g][tp]
			out = append(out, fmt.Sprintf("offset %s %s/%d@%d committed=%s", g, tp.topic, tp.partition, o.offset, h.rel(o.commitTime)))
		}
	}
	if d := h.c.NextDeadline(); !d.IsZero() {
		out = append(out, "next-deadline "+h.rel(d))
	}
	if len(out) == 0 {
		out = append(out, "empty")
	}
	return out
}

func (h *harness) relOrZero(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return h.rel(t)
}

// checkReload replays the log into a fresh Coordinator and compares what
// clients can see: DescribeGroups and OffsetFetch of every group.
func (h *harness) checkReload() []string {
	fresh := New(h.cfg)
	for _, r := range h.log {
		if err := fresh.Replay(r.Key, r.Value); err != nil {
			h.t.Fatalf("replay: %v", err)
		}
	}
	view := func(c *Coordinator) []string {
		ids := map[string]bool{}
		for id := range c.groups {
			ids[id] = true
		}
		for id := range c.offsets {
			ids[id] = true
		}
		var sorted []string
		for id := range ids {
			sorted = append(sorted, id)
		}
		slices.Sort(sorted)
		var out []string
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Version, d.Groups = 5, sorted
		out = append(out, h.fmtResponse(c.DescribeGroups(d, h.now).Response)...)
		for _, id := range sorted {
			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version, f.Group = 7, id
			out = append(out, h.fmtResponse(c.OffsetFetch(f, h.now).Response)...)
		}
		return out
	}
	before, after := view(h.c), view(fresh)
	if slices.Equal(before, after) {
		return []string{fmt.Sprintf("same after replaying %d records", len(h.log))}
	}
	out := []string{"DIFFERENT; live:"}
	out = append(out, before...)
	out = append(out, "replayed:")
	return append(out, after...)
}
