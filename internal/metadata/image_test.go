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
