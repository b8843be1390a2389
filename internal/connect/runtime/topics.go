package runtime

import "github.com/fjordstream/fjord/internal/connect"

// TopicListener is what a StatusListener implements to track the topics a
// connector's tasks use (KIP-558): a source task's after its transforms,
// a sink task's as consumed.
type TopicListener interface {
	// OnTopicUsed records that task id used topic. A task reports each
	// topic once, and again after TopicsEpoch changes.
	OnTopicUsed(id connect.TaskID, topic string)
	// TopicsEpoch changes when tracked topics were reset, so that tasks
	// report the topics they go on using.
	TopicsEpoch() uint64
}

// topicTracker reports the topics one task uses. It runs on the task's
// own goroutine; per record it costs a string comparison and an atomic
// load while the topic does not change.
type topicTracker struct {
	l     TopicListener // nil: not tracking
	id    connect.TaskID
	epoch uint64
	last  string
	seen  map[string]bool
}

func newTopicTracker(id connect.TaskID, l StatusListener) *topicTracker {
	t := &topicTracker{id: id, seen: map[string]bool{}}
	if tl, ok := l.(TopicListener); ok {
		t.l, t.epoch = tl, tl.TopicsEpoch()
	}
	return t
}

func (t *topicTracker) used(topic string) {
	if t.l == nil {
		return
	}
	if e := t.l.TopicsEpoch(); e != t.epoch {
		t.epoch, t.last = e, ""
		clear(t.seen)
	}
	if topic == t.last {
		return
	}
	t.last = topic
	if !t.seen[topic] {
		t.seen[topic] = true
		t.l.OnTopicUsed(t.id, topic)
	}
}
