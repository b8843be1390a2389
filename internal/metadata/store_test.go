package metadata

import (
	"errors"
	"testing"
)

func TestStore_PersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	id := NewTopicID()
	err = s.Update(func(m *Mutation) error {
		m.PutTopic(&Topic{Name: "orders", ID: id, Partitions: []Partition{{Index: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}, Configs: map[string]string{"retention.ms": "1000"}})
		m.AllocateProducerIDs(5)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	img := s2.Image()
	if img.ClusterID != s.Image().ClusterID {
		t.Fatalf("cluster id changed: %s vs %s", img.ClusterID, s.Image().ClusterID)
	}
	tp := img.TopicByID(id)
	if tp == nil || tp.Name != "orders" || tp.Configs["retention.ms"] != "1000" || len(tp.Partitions) != 1 {
		t.Fatalf("topic not restored: %+v", tp)
	}
	if img.NextProducerID != 1005 {
		t.Fatalf("producer id counter %d, want 1005", img.NextProducerID)
	}
	if _, err := Open(dir, "other-cluster"); err == nil {
		t.Fatal("opening with another cluster.id must fail")
	}
}

func TestStore_FailedUpdateChangesNothing(t *testing.T) {
	s, err := Open(t.TempDir(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = s.Update(func(m *Mutation) error {
		m.PutTopic(&Topic{Name: "x", ID: NewTopicID()})
		return boom
	})
	if !errors.Is(err, boom) || s.Image().Topic("x") != nil {
		t.Fatalf("err %v, topic %v", err, s.Image().Topic("x"))
	}
}

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
	s, _ := Open(t.TempDir(), "c")
	_ = s.Update(func(m *Mutation) error { m.PutTopic(&Topic{Name: "a.b", ID: NewTopicID()}); return nil })
	if got := s.Image().Collides("a_b"); got != "a.b" {
		t.Fatalf("Collides(a_b) = %q", got)
	}
	if got := s.Image().Collides("a.b"); got != "" {
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
