package metadata

import (
	"errors"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	long := make([]byte, 250)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct {
		name string
		ok   bool
	}{
		{"test_topic", true}, {"a.b-C_9", true}, {"", false}, {".", false}, {"..", false},
		{"has space", false}, {"slash/x", false}, {string(long[:249]), true}, {string(long), false}, {"ü", false},
	}
	for _, c := range cases {
		err := ValidateTopicName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("%q: err=%v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("%q: error does not wrap ErrInvalidTopic", c.name)
		}
	}
}

func TestImage_Collides(t *testing.T) {
	d := NewDelta(NewImage("c"))
	if err := d.Replay(&TopicRecord{Name: "a.b", TopicID: NewTopicID()}); err != nil {
		t.Fatal(err)
	}
	img := d.Apply()
	if got := img.Collides("a_b"); got != "a.b" {
		t.Fatalf("Collides(a_b) = %q", got)
	}
	if got := img.Collides("a.b"); got != "" {
		t.Fatalf("a topic does not collide with itself: %q", got)
	}
}

func TestTopicID_RoundTrip(t *testing.T) {
	id := NewTopicID()
	back, err := ParseTopicID(id.String())
	if err != nil || back != id {
		t.Fatalf("%v %v", back, err)
	}
}

// A reassignment's adding and removing replicas are kept by the image,
// written to snapshots (Records) and cleared by an empty list: a new active
// controller rebuilt from either carries the reassignment on.
func TestImage_KeepsReassignment(t *testing.T) {
	id := NewTopicID()
	d := NewDelta(NewImage("c"))
	for _, r := range []Record{
		&TopicRecord{Name: "t", TopicID: id},
		&PartitionRecord{TopicID: id, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		&PartitionChangeRecord{TopicID: id, Leader: NoLeaderChange, Replicas: []int32{2, 3, 1},
			AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}},
	} {
		if err := d.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	img := d.Apply()
	snap := NewDelta(NewImage("c"))
	for _, r := range img.Records() {
		back, err := DecodeRecord(EncodeRecord(nil, r))
		if err != nil {
			t.Fatal(err)
		}
		if err := snap.Replay(back); err != nil {
			t.Fatal(err)
		}
	}
	for name, im := range map[string]*Image{"replayed": img, "snapshot": snap.Apply()} {
		p := im.Topic("t").Partitions[0]
		if !p.Reassigning() || len(p.AddingReplicas) != 1 || p.AddingReplicas[0] != 3 || len(p.RemovingReplicas) != 1 || p.RemovingReplicas[0] != 1 {
			t.Fatalf("%s: adding %v removing %v, want [3] [1]", name, p.AddingReplicas, p.RemovingReplicas)
		}
	}
	d = NewDelta(img)
	if err := d.Replay(&PartitionChangeRecord{TopicID: id, Leader: NoLeaderChange, Replicas: []int32{2, 3},
		AddingReplicas: []int32{}, RemovingReplicas: []int32{}}); err != nil {
		t.Fatal(err)
	}
	if p := d.Apply().Topic("t").Partitions[0]; p.Reassigning() || p.AddingReplicas != nil || p.RemovingReplicas != nil {
		t.Fatalf("completed reassignment still in the image: %+v", p)
	}
}
