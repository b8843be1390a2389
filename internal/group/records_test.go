package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaBytes builds Kafka's non-flexible encodings by hand, independently of
// kmsg, to pin the layout external tools expect.
type kafkaBytes struct{ b []byte }

func (k *kafkaBytes) i16(v int16) *kafkaBytes {
	k.b = binary.BigEndian.AppendUint16(k.b, uint16(v))
	return k
}
func (k *kafkaBytes) i32(v int32) *kafkaBytes {
	k.b = binary.BigEndian.AppendUint32(k.b, uint32(v))
	return k
}
func (k *kafkaBytes) i64(v int64) *kafkaBytes {
	k.b = binary.BigEndian.AppendUint64(k.b, uint64(v))
	return k
}
func (k *kafkaBytes) str(s string) *kafkaBytes {
	k.i16(int16(len(s)))
	k.b = append(k.b, s...)
	return k
}
func (k *kafkaBytes) nullStr(s *string) *kafkaBytes {
	if s == nil {
		return k.i16(-1)
	}
	return k.str(*s)
}
func (k *kafkaBytes) bytes(b []byte) *kafkaBytes {
	k.i32(int32(len(b)))
	k.b = append(k.b, b...)
	return k
}

func TestRecords_OffsetCommitLayout(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	rec := offsetRecord("grp", topicPartition{"orders", 7},
		offsetValue{offset: 42, leaderEpoch: 3, metadata: "m", commitTime: at})
	wantKey := (&kafkaBytes{}).i16(1).str("grp").str("orders").i32(7).b
	wantValue := (&kafkaBytes{}).i16(3).i64(42).i32(3).str("m").i64(at.UnixMilli()).b
	if !bytes.Equal(rec.Key, wantKey) {
		t.Errorf("key\n got %x\nwant %x", rec.Key, wantKey)
	}
	if !bytes.Equal(rec.Value, wantValue) {
		t.Errorf("value\n got %x\nwant %x", rec.Value, wantValue)
	}

	// With an expire timestamp: value v1 (offset, metadata, commit, expire).
	rec = offsetRecord("grp", topicPartition{"orders", 7},
		offsetValue{offset: 42, leaderEpoch: 3, metadata: "m", commitTime: at, expireTime: at.Add(time.Hour)})
	wantValue = (&kafkaBytes{}).i16(1).i64(42).str("m").i64(at.UnixMilli()).i64(at.Add(time.Hour).UnixMilli()).b
	if !bytes.Equal(rec.Value, wantValue) {
		t.Errorf("v1 value\n got %x\nwant %x", rec.Value, wantValue)
	}
	if rec := offsetTombstone("grp", topicPartition{"orders", 7}); !bytes.Equal(rec.Key, wantKey) || rec.Value != nil {
		t.Errorf("tombstone %x/%x", rec.Key, rec.Value)
	}
}

func TestRecords_GroupMetadataLayout(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	g := newGroup("grp", at)
	g.state, g.generation, g.protocolType, g.protocol = Stable, 5, "consumer", "range"
	inst := "i1"
	g.add(&member{id: "m1", instanceID: &inst, clientID: "cid", clientHost: "/1.2.3.4",
		rebalanceTimeout: 30 * time.Second, sessionTimeout: 10 * time.Second, protocolType: "consumer",
		protocols: []protocol{{"range", []byte{1, 2}}, {"sticky", []byte{9}}}, assignment: []byte{3}})
	rec := groupRecord(g)
	wantKey := (&kafkaBytes{}).i16(2).str("grp").b
	range_, leader := "range", "m1"
	wantValue := (&kafkaBytes{}).i16(3).str("consumer").i32(5).nullStr(&range_).nullStr(&leader).i64(at.UnixMilli()).
		i32(1).str("m1").nullStr(&inst).str("cid").str("/1.2.3.4").i32(30000).i32(10000).
		bytes([]byte{1, 2}).bytes([]byte{3}).b
	if !bytes.Equal(rec.Key, wantKey) {
		t.Errorf("key\n got %x\nwant %x", rec.Key, wantKey)
	}
	if !bytes.Equal(rec.Value, wantValue) {
		t.Errorf("value\n got %x\nwant %x", rec.Value, wantValue)
	}

	// An empty group: null protocol and leader, no members.
	e := newGroup("grp", at)
	e.generation, e.protocolType = 6, "consumer"
	wantValue = (&kafkaBytes{}).i16(3).str("consumer").i32(6).nullStr(nil).nullStr(nil).i64(at.UnixMilli()).i32(0).b
	if rec := groupRecord(e); !bytes.Equal(rec.Value, wantValue) {
		t.Errorf("empty value\n got %x\nwant %x", rec.Value, wantValue)
	}
}

// Records written by the Coordinator decode with kmsg's readers (as external
// tools read __consumer_offsets) and replay into the same state.
func TestRecords_RoundTrip(t *testing.T) {
	h := newHarness(t, Config{NoInitialRebalanceDelay: true})
	for _, cmd := range []string{
		"join g=g1 client=c1 v=3 inst=i1 protos=range:t1+t2",
		"advance by=0s",
		"sync g=g1 m=i1-1 inst=i1 gen=1 assign=i1-1:all",
		"commit g=g1 m=i1-1 inst=i1 gen=1 v=7 epoch=9 offsets=t1/0@10,t2/3@30 meta=x",
		"commit g=g2 v=3 retention=1h offsets=t1/0@1",
	} {
		h.run(cmd)
	}
	if len(h.log) != 4 {
		t.Fatalf("%d records", len(h.log))
	}
	for _, r := range h.log {
		switch v := int16(binary.BigEndian.Uint16(r.Key)); v {
		case 1:
			var k kmsg.OffsetCommitKey
			var val kmsg.OffsetCommitValue
			if err := k.ReadFrom(r.Key); err != nil {
				t.Fatal(err)
			}
			if err := val.ReadFrom(r.Value); err != nil {
				t.Fatal(err)
			}
			if k.Group == "g1" && (val.Version != 3 || val.Metadata != "x" || val.LeaderEpoch != 9) {
				t.Errorf("g1 offset value %+v", val)
			}
			if k.Group == "g2" && (val.Version != 1 || val.ExpireTimestamp != scriptStart.Add(time.Hour).UnixMilli()) {
				t.Errorf("g2 offset value %+v", val)
			}
		case 2:
			var k kmsg.GroupMetadataKey
			var val kmsg.GroupMetadataValue
			if err := k.ReadFrom(r.Key); err != nil {
				t.Fatal(err)
			}
			if err := val.ReadFrom(r.Value); err != nil {
				t.Fatal(err)
			}
			if k.Group != "g1" || val.Generation != 1 || len(val.Members) != 1 ||
				val.Members[0].InstanceID == nil || *val.Members[0].InstanceID != "i1" ||
				string(val.Members[0].Assignment) != "all" {
				t.Errorf("group value %+v", val)
			}
		default:
			t.Errorf("key version %d", v)
		}
	}
	if got := h.run("check-reload"); got[0] != "same after replaying 4 records" {
		t.Errorf("reload: %v", got)
	}
}

func TestReplay_SkipsWhatItCannotUse(t *testing.T) {
	c := New(Config{NumPartitions: 1})
	for _, tc := range []struct {
		key, value []byte
		want       error
	}{
		{[]byte{0}, nil, ErrBadRecord},
		{[]byte{0, 1, 0, 9}, nil, ErrBadRecord},
		{[]byte{0, 3, 0, 0}, []byte{1}, ErrBadRecord},
		{[]byte{0, 9, 0, 0}, []byte{1}, ErrUnknownRecord},
		{offsetKey("g", "t", 0), []byte{0, 3, 1}, ErrBadRecord},
		{groupKey("g"), []byte{0, 3}, ErrBadRecord},
	} {
		if err := c.Replay(tc.key, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("Replay(%x, %x) = %v, want %v", tc.key, tc.value, err, tc.want)
		}
	}
	if len(c.groups) != 0 || len(c.offsets) != 0 || len(c.consumer.IDs()) != 0 {
		t.Errorf("state changed: %v %v", c.groups, c.offsets)
	}
}

func TestPartitionFor_JavaHashCode(t *testing.T) {
	for _, tc := range []struct {
		group string
		hash  int32
		n     int32
		want  int32
	}{
		{"", 0, 50, 0},
		{"g1", 3242, 50, 42},
		{"hello", 99162322, 50, 22},
		{"my-group", -1906497762, 50, 12},
		// Java's famous MIN_VALUE hash: Utils.abs maps it to 0.
		{"polygenelubricants", -1 << 31, 50, 0},
		// A character outside the BMP counts as two UTF-16 units.
		{"\U0001F600", 31*0xD83D + 0xDE00, 50, (31*0xD83D + 0xDE00) % 50},
		{"g1", 3242, 1, 0},
	} {
		if got := javaStringHashCode(tc.group); got != tc.hash {
			t.Errorf("hashCode(%q) = %d, want %d", tc.group, got, tc.hash)
		}
		if got := PartitionFor(tc.group, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.group, tc.n, got, tc.want)
		}
	}
}

func TestErrorCodes_MatchKafka(t *testing.T) {
	for _, tc := range []struct {
		code int16
		err  *kerr.Error
	}{
		{errUnknownServerError, kerr.UnknownServerError},
		{errOffsetMetadataTooLarge, kerr.OffsetMetadataTooLarge},
		{errCoordinatorLoadInProgress, kerr.CoordinatorLoadInProgress},
		{errCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
		{errNotCoordinator, kerr.NotCoordinator},
		{errIllegalGeneration, kerr.IllegalGeneration},
		{errInconsistentGroupProtocol, kerr.InconsistentGroupProtocol},
		{errInvalidGroupID, kerr.InvalidGroupID},
		{errUnknownMemberID, kerr.UnknownMemberID},
		{errInvalidSessionTimeout, kerr.InvalidSessionTimeout},
		{errRebalanceInProgress, kerr.RebalanceInProgress},
		{errNonEmptyGroup, kerr.NonEmptyGroup},
		{errGroupIDNotFound, kerr.GroupIDNotFound},
		{errMemberIDRequired, kerr.MemberIDRequired},
		{errGroupMaxSizeReached, kerr.GroupMaxSizeReached},
		{errFencedInstanceID, kerr.FencedInstanceID},
		{errGroupSubscribedToTopic, kerr.GroupSubscribedToTopic},
	} {
		if tc.code != tc.err.Code {
			t.Errorf("%s: have %d, Kafka's is %d", tc.err.Message, tc.code, tc.err.Code)
		}
	}
}

func FuzzReplay(f *testing.F) {
	f.Add(offsetKey("g", "t", 1), offsetRecord("g", topicPartition{"t", 1}, offsetValue{offset: 5}).Value)
	g := newGroup("g", time.UnixMilli(1))
	g.protocolType, g.protocol, g.state = "consumer", "range", Stable
	g.add(&member{id: "m", protocols: []protocol{{"range", consumerSubscription([]string{"t"}, "")}}})
	rec := groupRecord(g)
	f.Add(rec.Key, rec.Value)
	f.Add(groupKey("g"), []byte(nil))
	// Invariant: Replay never panics, and the state it leaves answers
	// DescribeGroups, OffsetFetch and ListGroups, and arms its timers.
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := New(Config{NumPartitions: 1})
		_ = c.Replay(key, value)
		now := time.UnixMilli(0)
		c.Loaded(now)
		for id := range c.groups {
			d := kmsg.NewPtrDescribeGroupsRequest()
			d.Groups = []string{id}
			c.DescribeGroups(d, now)
			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version, f.Group = 7, id
			c.OffsetFetch(f, now)
		}
		c.ListGroups(kmsg.NewPtrListGroupsRequest(), now)
		c.Tick(now.Add(48 * time.Hour))
	})
}
