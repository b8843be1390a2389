package consumergroup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"testing"
)

// wire decodes Kafka's primitive types by hand (independently of kbin), to
// check what records.go writes against Kafka's schemas.
type wire struct {
	t   *testing.T
	b   []byte
	bad bool
}

func (w *wire) take(n int) []byte {
	if n < 0 || len(w.b) < n {
		w.t.Fatalf("record too short: want %d bytes, %d left", n, len(w.b))
	}
	out := w.b[:n]
	w.b = w.b[n:]
	return out
}

func (w *wire) i8() int8   { return int8(w.take(1)[0]) }
func (w *wire) i16() int16 { return int16(binary.BigEndian.Uint16(w.take(2))) }
func (w *wire) i32() int32 { return int32(binary.BigEndian.Uint32(w.take(4))) }
func (w *wire) i64() int64 { return int64(binary.BigEndian.Uint64(w.take(8))) }

func (w *wire) uvarint() int {
	v, n := binary.Uvarint(w.b)
	if n <= 0 {
		w.t.Fatal("bad uvarint")
	}
	w.b = w.b[n:]
	return int(v)
}

// str is a non-flexible (key) string: int16 length.
func (w *wire) str() string { return string(w.take(int(w.i16()))) }

// cstr is a compact nullable string: uvarint length+1, 0 for null.
func (w *wire) cstr() *string {
	n := w.uvarint()
	if n == 0 {
		return nil
	}
	s := string(w.take(n - 1))
	return &s
}

// carray is a compact array length: uvarint length+1.
func (w *wire) carray() int {
	n := w.uvarint()
	if n == 0 {
		w.t.Fatal("null array where the schema has none")
	}
	return n - 1
}

func (w *wire) uuid() TopicID { return TopicID(w.take(16)) }

func (w *wire) end() {
	if len(w.b) != 0 {
		w.t.Fatalf("%d trailing bytes", len(w.b))
	}
}

// topicPartitions reads []TopicPartitions: TopicId uuid, Partitions
// []int32, then tagged fields; tag 0 is AssignmentEpochs ([]int32).
func (w *wire) topicPartitions(epochs map[TopicPartition]int32) Partitions {
	p := Partitions{}
	for range w.carray() {
		id := w.uuid()
		var ps []int32
		for range w.carray() {
			ps = append(ps, w.i32())
		}
		p.add(id, ps...)
		for range w.uvarint() {
			tag, size := w.uvarint(), w.uvarint()
			data := &wire{t: w.t, b: w.take(size)}
			if tag != 0 || epochs == nil {
				w.t.Fatalf("unexpected tag %d", tag)
			}
			if n := data.carray(); n != len(ps) {
				w.t.Fatalf("%d epochs for %d partitions", n, len(ps))
			}
			for _, q := range ps {
				epochs[TopicPartition{id, q}] = data.i32()
			}
			data.end()
		}
	}
	return p
}

// lastRecord returns the last record of a type in a log.
func lastRecord(t *testing.T, log []Record, typ int16, tombstone bool) Record {
	for _, r := range slices.Backward(log) {
		if int16(binary.BigEndian.Uint16(r.Key)) == typ && (r.Value == nil) == tombstone {
			return r
		}
	}
	t.Fatalf("no record of type %d (tombstone %v)", typ, tombstone)
	return Record{}
}

// TestRecords_Layout decodes one record of each type by hand against
// Kafka's schemas (ConsumerGroup*Key/Value.json): a key is the int16 type
// and int16-length strings; a value is int16 version 0, flexible fields,
// tagged fields.
func TestRecords_Layout(t *testing.T) {
	h, _, _, _ := stableTwo(t)
	h.ok(hb{group: "g", member: "s", instance: strp("inst"), regex: strp("t|u"), subs: []string{"t"}})
	h.ok(hb{group: "g", member: "s", instance: strp("inst"), epoch: staticLeaveEpoch}) // a current assignment at -2
	g := h.gs.Get("g")
	revoking := "" // a or b must give s a partition
	for _, id := range []string{"a", "b"} {
		h.heartbeat(hb{group: "g", member: id, epoch: 2})
		if g.Members[id].State == StateUnrevokedPartitions {
			revoking = id
		}
	}
	if revoking == "" {
		t.Fatal("nobody is revoking")
	}
	key := func(r Record, typ int16, member string) *wire {
		w := &wire{t: t, b: r.Key}
		if got := w.i16(); got != typ {
			t.Fatalf("key type %d, want %d", got, typ)
		}
		if got := w.str(); got != "g" {
			t.Fatalf("key group %q", got)
		}
		if member != "" {
			if got := w.str(); got != member {
				t.Fatalf("key member %q, want %q", got, member)
			}
		}
		w.end()
		w = &wire{t: t, b: r.Value}
		if r.Value != nil {
			if v := w.i16(); v != 0 {
				t.Fatalf("value version %d", v)
			}
		}
		return w
	}

	// 3: ConsumerGroupMetadataValue: Epoch; tagged 0 MetadataHash, 1 CreationTimeMs.
	w := key(lastRecord(t, h.log, TypeGroupMetadata, false), TypeGroupMetadata, "")
	if e := w.i32(); e != g.Epoch {
		t.Errorf("group epoch %d, want %d", e, g.Epoch)
	}
	tags := map[int]int64{}
	for range w.uvarint() {
		tag, size := w.uvarint(), w.uvarint()
		if size != 8 {
			t.Fatalf("tag %d of %d bytes", tag, size)
		}
		tags[tag] = w.i64()
	}
	w.end()
	if tags[0] != g.MetadataHash || tags[1] != g.CreationTime.UnixMilli() || len(tags) != 2 {
		t.Errorf("group tags %v, want hash %d created %d", tags, g.MetadataHash, g.CreationTime.UnixMilli())
	}

	// 5: ConsumerGroupMemberMetadataValue.
	s := g.Members["s"]
	w = key(lastRecord(t, h.log, TypeMemberMetadata, false), TypeMemberMetadata, "s")
	inst, rack, cid, host := w.cstr(), w.cstr(), w.cstr(), w.cstr()
	var names []string
	for range w.carray() {
		names = append(names, *w.cstr())
	}
	regex, timeout, assignor := w.cstr(), w.i32(), w.cstr()
	if w.uvarint() != 0 {
		t.Error("member metadata has tagged fields")
	}
	w.end()
	if *inst != "inst" || rack != nil || *cid != "client-s" || *host != "/10.0.0.1" || !slices.Equal(names, []string{"t"}) ||
		*regex != "t|u" || timeout != 30000 || assignor != nil || s.RebalanceTimeout.Milliseconds() != 30000 {
		t.Errorf("member metadata %v %v %v %v %v %v %d %v", inst, rack, cid, host, names, regex, timeout, assignor)
	}

	// 6: ConsumerGroupTargetAssignmentMetadataValue: AssignmentEpoch.
	w = key(lastRecord(t, h.log, TypeTargetAssignmentMetadata, false), TypeTargetAssignmentMetadata, "")
	if e := w.i32(); e != g.AssignmentEpoch || w.uvarint() != 0 {
		t.Errorf("assignment epoch %d, want %d", e, g.AssignmentEpoch)
	}
	w.end()

	// 7: ConsumerGroupTargetAssignmentMemberValue: []TopicPartition.
	r := lastRecord(t, h.log, TypeTargetAssignmentMember, false)
	member := string(r.Key[2+2+1+2:])
	w = key(r, TypeTargetAssignmentMember, member)
	if p := w.topicPartitions(nil); !p.equal(g.Target[member]) || w.uvarint() != 0 {
		t.Errorf("target of %s %v, want %v", member, p, g.Target[member])
	}
	w.end()

	// 8: ConsumerGroupCurrentMemberAssignmentValue, for a revoking member
	// and for a static member that left.
	for _, id := range []string{revoking, "s"} {
		m := g.Members[id]
		var rec Record
		for _, r := range slices.Backward(h.log) {
			if bytes.Equal(r.Key, memberKey(TypeCurrentMemberAssignment, "g", id)) {
				rec = r
				break
			}
		}
		w = key(rec, TypeCurrentMemberAssignment, id)
		epoch, prev, state := w.i32(), w.i32(), w.i8()
		epochs := map[TopicPartition]int32{}
		assigned, pending := w.topicPartitions(epochs), w.topicPartitions(epochs)
		if w.uvarint() != 0 {
			t.Error("current assignment has tagged fields")
		}
		w.end()
		if epoch != m.Epoch || prev != m.PreviousEpoch || MemberState(state) != m.State || !assigned.equal(m.Assigned) || !pending.equal(m.PendingRevocation) {
			t.Errorf("%s: current assignment %d/%d/%d %v %v, want %d/%d/%v %v %v", id, epoch, prev, state, assigned, pending, m.Epoch, m.PreviousEpoch, m.State, m.Assigned, m.PendingRevocation)
		}
		for tp := range union(m.Assigned, m.PendingRevocation).each() {
			if want, _ := m.AssignmentEpoch(tp); epochs[tp] != want {
				t.Errorf("%s: %v assigned at %d, want %d", id, tp, epochs[tp], want)
			}
		}
	}
	if g.Members[revoking].PendingRevocation.count() == 0 {
		t.Fatalf("%s revokes nothing", revoking)
	}
	if s.Epoch != staticLeaveEpoch || s.PreviousEpoch != 3 {
		t.Fatalf("s at %d (previous %d)", s.Epoch, s.PreviousEpoch)
	}

	// Tombstones: the three member keys, then the group's.
	recs := h.expire("g", "b", false)
	for i, typ := range []int16{TypeCurrentMemberAssignment, TypeTargetAssignmentMember, TypeMemberMetadata} {
		if recs[i].Value != nil {
			t.Errorf("tombstone %d has a value", i)
		}
		key(recs[i], typ, "b")
	}
}

// TestReplay_KafkaDefaults: records written without the optional parts
// Kafka may leave out still load; bad ones change nothing.
func TestReplay_KafkaDefaults(t *testing.T) {
	gs := NewGroups(Config{})
	id := TopicID{1}
	// A current assignment without AssignmentEpochs, at epoch -2: the
	// partitions count as assigned at epoch 0.
	v := []byte{0, 0, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 3, 0, 2}
	v = append(v, id[:]...)
	v = append(v, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0) // partitions 4 and 5, no tags
	v = append(v, 1, 0)                         // no pending, no tags
	if err := gs.Replay(memberKey(TypeCurrentMemberAssignment, "g", "m"), v); err != nil {
		t.Fatal(err)
	}
	m := gs.Get("g").Members["m"]
	if e, ok := m.AssignmentEpoch(TopicPartition{id, 5}); !ok || e != 0 || m.Epoch != -2 || m.PreviousEpoch != 3 {
		t.Fatalf("epoch %d previous %d, partition 5 at %d (%v)", m.Epoch, m.PreviousEpoch, e, ok)
	}
	// Type 4 (subscription metadata) is ignored and creates nothing.
	if err := gs.Replay(groupKey(TypePartitionMetadata, "h"), []byte{0, 0, 1, 0}); err != nil || gs.Get("h") != nil {
		t.Fatalf("type 4: %v, group %v", err, gs.Get("h"))
	}
	// Not this package's record.
	if err := gs.Replay([]byte{0, 1, 0, 0}, nil); !errors.Is(err, ErrNotConsumerGroupRecord) {
		t.Fatalf("offset commit key: %v", err)
	}
	for _, c := range []struct {
		name       string
		key, value []byte
	}{
		{"short key", []byte{0}, nil},
		{"key without group", []byte{0, 3}, []byte{0, 0, 0, 0, 0, 1, 0}},
		{"key without member", groupKey(TypeMemberMetadata, "g"), []byte{0, 0}},
		{"value version 1", groupKey(TypeGroupMetadata, "g"), []byte{0, 1, 0, 0, 0, 1, 0}},
		{"empty value", groupKey(TypeGroupMetadata, "g"), []byte{}},
		{"truncated group epoch", groupKey(TypeGroupMetadata, "g"), []byte{0, 0, 0, 0}},
		{"short tagged hash", groupKey(TypeGroupMetadata, "g"), []byte{0, 0, 0, 0, 0, 9, 1, 0, 1, 7}},
		{"truncated current assignment", memberKey(TypeCurrentMemberAssignment, "g", "m"), v[:len(v)-3]},
		{"truncated member metadata", memberKey(TypeMemberMetadata, "g", "m"), []byte{0, 0, 0, 0, 3, 'c'}},
		{"truncated target", memberKey(TypeTargetAssignmentMember, "g", "m"), []byte{0, 0, 2}},
	} {
		before := snapshot(t, gs)
		err := gs.Replay(c.key, c.value)
		if !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v", c.name, err)
		}
		if d := diffGroups(before, gs); d != "" {
			t.Errorf("%s changed the state: %s", c.name, d)
		}
	}
}

// snapshot deep-copies a Groups, derived state included.
func snapshot(t tester, gs *Groups) *Groups {
	t.Helper()
	out := NewGroups(gs.Config())
	for id, g := range gs.groups {
		c := *g
		c.Members = make(map[string]*Member, len(g.Members))
		for mid, m := range g.Members {
			cm := *m
			cm.SubscribedTopicNames = slices.Clone(m.SubscribedTopicNames)
			cm.Assigned, cm.PendingRevocation = m.Assigned.clone(), m.PendingRevocation.clone()
			cm.assignmentEpochs = maps.Clone(m.assignmentEpochs)
			c.Members[mid] = &cm
		}
		c.Target = make(map[string]Partitions, len(g.Target))
		for mid, p := range g.Target {
			c.Target[mid] = p.clone()
		}
		c.owners = maps.Clone(g.owners)
		out.groups[id] = &c
	}
	return out
}

// FuzzReplay: no record may panic Replay, Loaded or a later heartbeat, and
// a record that fails to decode changes nothing (a fresh Groups keeps no
// group). An empty value stands for a tombstone.
func FuzzReplay(f *testing.F) {
	h := newHarness(f, Config{})
	h.topics.create("t", 4)
	h.ok(hb{group: "g", member: "a", instance: strp("i"), subs: []string{"t"}, regex: strp("t.*")})
	h.ok(hb{group: "g", member: "b", subs: []string{"t"}})
	h.heartbeat(hb{group: "g", member: "a", instance: strp("i"), epoch: 1})
	h.expire("g", "b", false)
	for _, r := range h.log {
		f.Add(r.Key, r.Value)
		if len(r.Value) > 3 {
			f.Add(r.Key, r.Value[:len(r.Value)/2])
		}
	}
	seed := h.log
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if len(value) == 0 {
			value = nil
		}
		fresh := NewGroups(Config{})
		if err := fresh.Replay(key, value); err != nil && len(fresh.IDs()) != 0 {
			t.Fatalf("failed record (%v) left groups %v", err, fresh.IDs())
		}
		loaded := replay(t, Config{}, seed)
		before := snapshot(t, loaded)
		if err := loaded.Replay(key, value); err != nil {
			if d := diffGroups(before, loaded); d != "" {
				t.Fatalf("failed record (%v) changed the state: %s", err, d)
			}
		}
		// Whatever loaded must be usable.
		for _, gs := range []*Groups{fresh, loaded} {
			gs.Loaded()
			topics := newFakeTopics()
			topics.create("t", 4)
			for _, id := range gs.IDs() {
				gs.Describe(id, topics)
				gs.ValidateCommit(id, "a", 1, 9, topics, []NamedPartition{{"t", 0}})
				o := gs.Heartbeat(hb{group: id, member: "fuzz", subs: []string{"t"}}.req(), Client{}, topics, h.now)
				for _, m := range gs.Get(id).sortedMembers() {
					gs.Heartbeat(hb{group: id, member: m.ID, epoch: m.Epoch, owned: Partitions{}}.req(), Client{}, topics, h.now)
				}
				if o.Response.ErrorCode == 0 {
					gs.Expire(id, "fuzz", false)
				}
			}
		}
	})
}

// TestReplay_Loaded: a member whose metadata record was compacted away is
// dropped with its target; misaligned assignment epochs fall back to the
// member epoch.
func TestReplay_Loaded(t *testing.T) {
	h := newHarness(t, Config{})
	tid := h.topics.create("t", 3)
	h.ok(hb{group: "g", member: "a", subs: []string{"t"}})
	h.ok(hb{group: "g", member: "b", subs: []string{"t"}})
	var log []Record
	for _, r := range h.log {
		if !bytes.Equal(r.Key, memberKey(TypeMemberMetadata, "g", "b")) {
			log = append(log, r)
		}
	}
	gs := replay(t, Config{}, log)
	if g := gs.Get("g"); g.Members["b"] != nil || g.Target["b"] != nil || g.Members["a"] == nil || g.Target["a"] == nil {
		t.Fatalf("members %d, targets %d", len(g.Members), len(g.Target))
	}

	// Partitions 0 and 1 with a single epoch: both get the member epoch.
	v := []byte{0, 0, 0, 0, 0, 7, 0, 0, 0, 6, 0, 2}
	v = append(v, tid[:]...)
	v = append(v, 3, 0, 0, 0, 0, 0, 0, 0, 1) // partitions 0, 1
	v = append(v, 1, 0, 5, 2, 0, 0, 0, 1)    // tag 0: [1]
	v = append(v, 1, 0)                      // no pending, no tags
	if err := gs.Replay(memberKey(TypeCurrentMemberAssignment, "g", "a"), v); err != nil {
		t.Fatal(err)
	}
	for _, q := range []int32{0, 1} {
		if e, ok := gs.Get("g").Members["a"].AssignmentEpoch(TopicPartition{tid, q}); !ok || e != 7 {
			t.Errorf("partition %d assigned at %d (%v), want 7", q, e, ok)
		}
	}
}
