package metadata

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func strp(s string) *string { return &s }

// sampleRecords has one record of every type, with every field set.
func sampleRecords() []Record {
	id := TopicID{1, 2, 3}
	return []Record{
		&RegisterBrokerRecord{BrokerID: 1, IncarnationID: [16]byte{9}, BrokerEpoch: 7,
			Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: 0}}, Rack: strp("a"), Fenced: true, InControlledShutdown: true},
		&UnregisterBrokerRecord{BrokerID: 3, BrokerEpoch: 4},
		&TopicRecord{Name: "orders", TopicID: id},
		&PartitionRecord{PartitionID: 0, TopicID: id, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, RemovingReplicas: []int32{},
			AddingReplicas: []int32{3}, Leader: 1, LeaderEpoch: 5, PartitionEpoch: 6, ELR: []int32{3}, LastKnownELR: []int32{}},
		&PartitionChangeRecord{PartitionID: 0, TopicID: id, ISR: []int32{1}, Leader: NoLeaderChange, ELR: []int32{2}},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "orders", Name: "retention.ms", Value: strp("1000")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "x", Value: nil},
		&FenceBrokerRecord{ID: 1, Epoch: 7},
		&UnfenceBrokerRecord{ID: 1, Epoch: 7},
		&RemoveTopicRecord{TopicID: id},
		&FeatureLevelRecord{Name: "metadata.version", FeatureLevel: 27},
		&ProducerIdsRecord{BrokerID: 1, BrokerEpoch: 7, NextProducerID: 2000},
		&VotersRecord{Voters: []Voter{{ID: 1, Host: "127.0.0.1", Port: 9093}, {ID: 4, DirectoryID: [16]byte{4}, Host: "c4", Port: 19093}}},
	}
}

// A changed voter set is part of the image: a snapshot (Records) carries it,
// replaying it gives it back sorted, and a delta says it changed.
func TestImage_VotersSurviveASnapshot(t *testing.T) {
	if v := NewImage("c").Voters(); v != nil {
		t.Fatalf("a new image has voters %v, want nil (controller.quorum.voters')", v)
	}
	d := NewDelta(NewImage("c"))
	if err := d.Replay(&VotersRecord{Voters: []Voter{{ID: 4, Host: "h4", Port: 4}, {ID: 1, Host: "h1", Port: 1}}}); err != nil {
		t.Fatal(err)
	}
	if !d.VotersChanged() {
		t.Fatal("the delta does not report the voter change")
	}
	img := d.Apply()
	want := []Voter{{ID: 1, Host: "h1", Port: 1}, {ID: 4, Host: "h4", Port: 4}}
	if !reflect.DeepEqual(img.Voters(), want) {
		t.Fatalf("voters %v, want %v", img.Voters(), want)
	}
	again := NewDelta(NewImage("c"))
	for _, r := range img.Records() {
		if err := again.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	if got := again.Apply().Voters(); !reflect.DeepEqual(got, want) {
		t.Fatalf("voters after a snapshot %v, want %v", got, want)
	}
}

func TestRecords_RoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		b := EncodeRecord(nil, r)
		back, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("%T: decoded %+v, want %+v", r, back, r)
		}
		// Every strict prefix is refused, never misread.
		for i := range b {
			if _, err := DecodeRecord(b[:i]); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("%T: %d-byte prefix decoded (err %v)", r, i, err)
			}
		}
	}
}

// The frame is Kafka's: frame version 1, then type and version as
// unsigned varints.
func TestRecords_Frame(t *testing.T) {
	b := EncodeRecord(nil, &RemoveTopicRecord{TopicID: TopicID{15: 7}})
	want := append([]byte{1, 9, 0}, append(make([]byte, 15), 7, 0)...)
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("RemoveTopicRecord framed as % x, want % x", b, want)
	}
	if _, err := DecodeRecord([]byte{1, 99, 0, 0}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := DecodeRecord([]byte{1, 9, 1}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("unknown version: %v", err)
	}
}

func replayAll(t *testing.T, img *Image, recs ...Record) (*Delta, *Image) {
	t.Helper()
	d := NewDelta(img)
	for _, r := range recs {
		if err := d.Replay(r); err != nil {
			t.Fatalf("%T: %v", r, err)
		}
	}
	return d, d.Apply()
}

func TestDelta_TopicLifecycle(t *testing.T) {
	id := NewTopicID()
	empty := NewImage("c")
	d, img := replayAll(t, empty,
		&TopicRecord{Name: "t", TopicID: id},
		&PartitionRecord{PartitionID: 0, TopicID: id, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		&PartitionRecord{PartitionID: 1, TopicID: id, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "t", Name: "retention.ms", Value: strp("5")},
	)
	if empty.NumTopics() != 0 {
		t.Fatal("replaying changed the base image")
	}
	if got := d.ChangedTopics(); len(got) != 1 || got[0].Name != "t" || len(got[0].Partitions) != 2 {
		t.Fatalf("changed topics %+v", got)
	}
	// A leader change bumps both epochs; an ISR change only the partition epoch.
	d2, img2 := replayAll(t, img,
		&PartitionChangeRecord{PartitionID: 1, TopicID: id, Leader: 2, ISR: []int32{2}},
		&PartitionChangeRecord{PartitionID: 0, TopicID: id, Leader: NoLeaderChange, ISR: []int32{}},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "t", Name: "retention.ms"},
	)
	p0, p1 := img2.Topic("t").Partitions[0], img2.Topic("t").Partitions[1]
	if p1.Leader != 2 || p1.LeaderEpoch != 1 || p1.PartitionEpoch != 1 || !reflect.DeepEqual(p1.ISR, []int32{2}) {
		t.Fatalf("partition 1 after a leader change: %+v", p1)
	}
	if p0.Leader != 1 || p0.LeaderEpoch != 0 || p0.PartitionEpoch != 1 || len(p0.ISR) != 0 {
		t.Fatalf("partition 0 after an ISR change: %+v", p0)
	}
	if len(img2.Topic("t").Configs) != 0 || img.Topic("t").Configs["retention.ms"] != "5" {
		t.Fatal("config deletion wrong, or it changed the base image")
	}
	if img.Topic("t").Partitions[1].Leader != 1 {
		t.Fatal("a partition change modified the base image")
	}
	if len(d2.ChangedTopics()) != 1 {
		t.Fatalf("changed topics %v", d2.ChangedTopics())
	}
	d3, img3 := replayAll(t, img2, &RemoveTopicRecord{TopicID: id})
	if img3.Topic("t") != nil || img3.TopicByID(id) != nil || len(d3.RemovedTopics()) != 1 || len(d3.ChangedTopics()) != 0 {
		t.Fatal("topic not removed")
	}
	// An image rebuilt from its own records is the same image.
	_, again := replayAll(t, NewImage("c"), img2.Records()...)
	if !reflect.DeepEqual(again.Topic("t"), img2.Topic("t")) || again.NextProducerID != img2.NextProducerID {
		t.Fatalf("image from Records differs:\n%+v\n%+v", again.Topic("t"), img2.Topic("t"))
	}
}

func TestDelta_RefusesInconsistentRecords(t *testing.T) {
	id := NewTopicID()
	_, img := replayAll(t, NewImage("c"), &TopicRecord{Name: "t", TopicID: id},
		&RegisterBrokerRecord{BrokerID: 1, BrokerEpoch: 3})
	for _, r := range []Record{
		&TopicRecord{Name: "t", TopicID: NewTopicID()},
		&TopicRecord{Name: "u", TopicID: id},
		&TopicRecord{Name: "bad/name", TopicID: NewTopicID()},
		&PartitionRecord{PartitionID: 1, TopicID: id},
		&PartitionRecord{PartitionID: 0, TopicID: NewTopicID()},
		&PartitionChangeRecord{PartitionID: 0, TopicID: id},
		&RemoveTopicRecord{TopicID: NewTopicID()},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "nope", Name: "k"},
		&ConfigRecord{ResourceType: 9, Name: "k"},
		&FenceBrokerRecord{ID: 1, Epoch: 2},
		&UnfenceBrokerRecord{ID: 2, Epoch: 3},
		&ProducerIdsRecord{NextProducerID: 10},
	} {
		if err := NewDelta(img).Replay(r); !errors.Is(err, ErrInconsistent) {
			t.Errorf("%T %+v: %v, want ErrInconsistent", r, r, err)
		}
	}
}

func TestLoader_PublishesInOrderAndRefusesBadBatches(t *testing.T) {
	l := NewLoader(NewImage("c"))
	var seen []int64
	l.Subscribe(PublisherFunc(func(d *Delta, img *Image) {
		if d.Base().Offset+1 > img.Offset {
			t.Errorf("delta from %d to %d", d.Base().Offset, img.Offset)
		}
		seen = append(seen, img.Offset)
	}))
	id := NewTopicID()
	if _, err := l.Apply([]Record{&TopicRecord{Name: "t", TopicID: id}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Apply([]Record{&TopicRecord{Name: "u", TopicID: NewTopicID()}, &TopicRecord{Name: "t", TopicID: NewTopicID()}}, 2); err == nil {
		t.Fatal("a batch that does not fit was applied")
	}
	if l.Image().Topic("u") != nil || l.Image().Offset != 0 {
		t.Fatal("a refused batch changed the image")
	}
	if !reflect.DeepEqual(seen, []int64{0}) {
		t.Fatalf("published %v", seen)
	}
}

// A late subscriber first sees the whole current image as one delta, then
// every later batch, in order, with nothing in between lost.
func TestLoader_SubscribeReplayingCatchesUp(t *testing.T) {
	l := NewLoader(NewImage("c"))
	if _, err := l.Apply([]Record{&TopicRecord{Name: "t", TopicID: NewTopicID()}}, 0); err != nil {
		t.Fatal(err)
	}
	var seen [][]string
	l.SubscribeReplaying(PublisherFunc(func(d *Delta, img *Image) {
		var names []string
		for _, tp := range d.ChangedTopics() {
			names = append(names, tp.Name)
		}
		seen = append(seen, names)
	}))
	if _, err := l.Apply([]Record{&TopicRecord{Name: "u", TopicID: NewTopicID()}}, 1); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, [][]string{{"t"}, {"u"}}) {
		t.Fatalf("published %v, want [[t] [u]]", seen)
	}
}

func TestReadLegacySnapshot(t *testing.T) {
	dir := t.TempDir()
	id := NewTopicID()
	snap := map[string]any{"version": 1, "cluster_id": "abc", "next_producer_id": 1234, "topics": []any{
		map[string]any{"name": "t", "id": id.String(), "configs": map[string]string{"retention.ms": "9"},
			"partitions": []any{map[string]any{"index": 0, "leader": 1, "leader_epoch": 2, "replicas": []int{1}, "isr": []int{1}}}},
	}}
	b, _ := json.Marshal(snap)
	if err := os.WriteFile(filepath.Join(dir, LegacySnapshotFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cid, recs, err := ReadLegacySnapshot(nil, dir)
	if err != nil || cid != "abc" {
		t.Fatalf("%q %v", cid, err)
	}
	_, img := replayAll(t, NewImage(cid), recs...)
	tp := img.TopicByID(id)
	if tp == nil || tp.Name != "t" || tp.Configs["retention.ms"] != "9" || tp.Partitions[0].LeaderEpoch != 2 || img.NextProducerID != 1234 {
		t.Fatalf("legacy image not rebuilt: %+v, next producer ID %d", tp, img.NextProducerID)
	}
	if _, _, err := ReadLegacySnapshot(nil, t.TempDir()); !errors.Is(err, ErrNoLegacySnapshot) {
		t.Fatalf("empty folder: %v", err)
	}
}

// FuzzDecodeRecord feeds arbitrary bytes as a metadata record. Invariants:
// DecodeRecord never panics; what it accepts encodes back to a record that
// decodes to the same value.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(EncodeRecord(nil, r))
	}
	f.Add([]byte{1, 3, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			return
		}
		back, err := DecodeRecord(EncodeRecord(nil, r))
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("re-encoding %+v: %+v, %v", r, back, err)
		}
	})
}

// FuzzReadLegacySnapshot feeds arbitrary bytes as a legacy JSON image.
// Invariants: never panics; the records of an accepted image replay.
func FuzzReadLegacySnapshot(f *testing.F) {
	f.Add([]byte(`{"version":1,"cluster_id":"abc","next_producer_id":1000,"topics":[{"name":"t","partitions":[{"index":0,"leader":1,"leader_epoch":0,"replicas":[1],"isr":[1]}],"id":"AAAAAAAAAAAAAAAAAAAAAQ"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"topics":[{"name":"x","id":"bad"}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, LegacySnapshotFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cid, recs, err := ReadLegacySnapshot(nil, dir)
		if err != nil {
			return
		}
		d := NewDelta(NewImage(cid))
		for _, r := range recs {
			if err := d.Replay(r); err != nil {
				t.Fatalf("accepted snapshot does not replay: %v", err)
			}
		}
	})
}
