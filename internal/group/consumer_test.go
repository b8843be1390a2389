package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fjordstream/fjord/internal/consumergroup"
	"github.com/fjordstream/fjord/internal/coordinator"
)

// oneTopic is a metadata view with one topic.
type oneTopic struct {
	name       string
	id         consumergroup.TopicID
	partitions int32
}

func (o oneTopic) ByName(n string) (consumergroup.TopicID, int32, bool) {
	return o.id, o.partitions, n == o.name
}
func (o oneTopic) ByID(id consumergroup.TopicID) (string, int32, bool) {
	return o.name, o.partitions, id == o.id
}
func (o oneTopic) Names() []string { return []string{o.name} }

func consumerHeartbeat(t *testing.T, c *Coordinator, log *[]coordinator.Record, member string, epoch int32, owned []int32, now time.Time) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "cg", member, epoch
	req.RebalanceTimeoutMillis = 1000
	req.SubscribedTopicNames = []string{"t"}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if owned != nil {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: consumergroup.TopicID{1}, Partitions: owned})
	}
	res := c.ConsumerGroupHeartbeat(req, Client{ID: member, Host: "/127.0.0.1"}, now)
	*log = append(*log, res.Records...)
	resp := res.Response.(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("heartbeat of %s: code %d", member, resp.ErrorCode)
	}
	return resp
}

// TestConsumerGroup_RevocationTimeoutAfterLoad: a member that was told to
// revoke partitions when the coordinator partition moved is fenced after
// its rebalance timeout on the new coordinator, even though it keeps
// heartbeating without revoking, so the partitions reach the newcomer.
func TestConsumerGroup_RevocationTimeoutAfterLoad(t *testing.T) {
	topics := oneTopic{"t", consumergroup.TopicID{1}, 4}
	cfg := Config{NumPartitions: 1, Topics: topics}
	c := New(cfg)
	now := time.Unix(1000, 0)
	var log []coordinator.Record
	a := consumerHeartbeat(t, c, &log, "a", 0, nil, now)
	if len(a.Assignment.Topics[0].Partitions) != 4 {
		t.Fatalf("first member got %+v", a.Assignment)
	}
	consumerHeartbeat(t, c, &log, "b", 0, nil, now)
	// a learns it must revoke two partitions but never does.
	consumerHeartbeat(t, c, &log, "a", a.MemberEpoch, []int32{0, 1, 2, 3}, now)
	if m := c.consumer.Get("cg").Members["a"]; m.State != consumergroup.StateUnrevokedPartitions {
		t.Fatalf("member a in state %v, want UNREVOKED_PARTITIONS", m.State)
	}

	reloaded := New(cfg)
	for _, r := range log {
		if err := reloaded.Replay(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(time.Minute)
	reloaded.Loaded(later)
	res := reloaded.Tick(later.Add(999 * time.Millisecond))
	if len(res.Records) != 0 || reloaded.consumer.Get("cg").Members["a"] == nil {
		t.Fatalf("member a fenced before its rebalance timeout")
	}
	res = reloaded.Tick(later.Add(time.Second))
	if len(res.Records) == 0 || reloaded.consumer.Get("cg").Members["a"] != nil {
		t.Fatalf("member a still in the group after its rebalance timeout on the new coordinator")
	}
}

// TestConsumerGroup_ConversionOnlyOnSuccess: a failed consumer join leaves
// an offsets-only classic group (and its offsets) as it was; a classic
// JoinGroup that names a member does not turn an empty consumer group into
// a classic one.
func TestConsumerGroup_ConversionOnlyOnSuccess(t *testing.T) {
	topics := oneTopic{"t", consumergroup.TopicID{1}, 2}
	c := New(Config{NumPartitions: 1, Topics: topics})
	now := time.Unix(1000, 0)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation = 9, "cg", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5, LeaderEpoch: -1}}}}
	if r := c.OffsetCommit(commit, now); r.Response.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal("simple commit failed")
	}
	bad := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	bad.Version, bad.Group, bad.MemberID = 1, "cg", "m"
	bad.RebalanceTimeoutMillis, bad.SubscribedTopicNames = 1000, []string{"t"}
	bad.ServerAssignor = kmsg.StringPtr("no-such-assignor")
	res := c.ConsumerGroupHeartbeat(bad, Client{}, now)
	if code := res.Response.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode; code != 112 || len(res.Records) != 0 {
		t.Fatalf("bad join: code %d, %d records", code, len(res.Records))
	}
	if c.groups["cg"] == nil || c.offsets["cg"][topicPartition{"t", 0}].offset != 5 {
		t.Fatal("a failed join converted the offsets-only group")
	}

	var log []coordinator.Record
	consumerHeartbeat(t, c, &log, "m", 0, nil, now)
	if c.groups["cg"] != nil || c.consumer.Get("cg") == nil {
		t.Fatal("a successful join did not convert the group")
	}
	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Version, leave.Group, leave.MemberID, leave.MemberEpoch = 1, "cg", "m", -1
	c.ConsumerGroupHeartbeat(leave, Client{}, now)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.MemberID = 5, "cg", "someone"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = 10000, 10000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0}}}
	res = c.JoinGroup(join, Client{}, now)
	if code := res.Response.(*kmsg.JoinGroupResponse).ErrorCode; code != errGroupIDNotFound || len(res.Records) != 0 {
		t.Fatalf("classic join naming a member: code %d, %d records", code, len(res.Records))
	}
	if c.consumer.Get("cg") == nil {
		t.Fatal("the empty consumer group was converted by a join that named a member")
	}
}
