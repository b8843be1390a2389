package herder

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fjordstream/fjord/internal/connect"
	"github.com/fjordstream/fjord/internal/connect/storage"
)

// statusQueue writes statuses to the status topic from one goroutine, the
// latest per connector and task: the runtime's callbacks must not block,
// and writes from separate goroutines could land out of order (a task's
// UNASSIGNED at start-up after its RUNNING). Its size is bounded by the
// number of connectors and tasks (and the topics they use).
type statusQueue struct {
	store  *storage.StatusStore
	logger *slog.Logger

	mu     sync.Mutex
	conns  map[string]storage.Status
	tasks  map[connect.TaskID]storage.Status
	topics map[topicUse]time.Time // discovered topics (KIP-558), with when
	// exists, when set, tells whether a connector still exists: a
	// deleted one's topics are not written.
	exists func(connector string) bool
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

func newStatusQueue(store *storage.StatusStore, logger *slog.Logger) *statusQueue {
	return &statusQueue{store: store, logger: logger, conns: map[string]storage.Status{}, tasks: map[connect.TaskID]storage.Status{},
		topics: map[topicUse]time.Time{},
		wake:   make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

func (q *statusQueue) putConnector(name string, st storage.Status) {
	q.mu.Lock()
	q.conns[name] = st
	q.mu.Unlock()
	q.notify()
}

func (q *statusQueue) putTask(id connect.TaskID, st storage.Status) {
	q.mu.Lock()
	q.tasks[id] = st
	q.mu.Unlock()
	q.notify()
}

// topicUse is a topic a task used.
type topicUse struct {
	task  connect.TaskID
	topic string
}

func (q *statusQueue) putTopic(id connect.TaskID, topic string, at time.Time) {
	q.mu.Lock()
	k := topicUse{id, topic}
	if _, ok := q.topics[k]; !ok {
		q.topics[k] = at
	}
	q.mu.Unlock()
	q.notify()
}

func (q *statusQueue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run writes until close; what is pending at close is written within a
// few seconds.
func (q *statusQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.wake:
			q.flush(10 * time.Second)
		case <-q.stop:
			q.flush(3 * time.Second)
			return
		}
	}
}

func (q *statusQueue) flush(timeout time.Duration) {
	q.mu.Lock()
	conns, tasks, topics := q.conns, q.tasks, q.topics
	q.conns, q.tasks, q.topics = map[string]storage.Status{}, map[connect.TaskID]storage.Status{}, map[topicUse]time.Time{}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	failed := false
	for name, st := range conns {
		if err := q.store.PutConnector(ctx, name, st); err != nil {
			q.logger.Warn("writing a connector status; retried", "connector", name, "err", err)
			q.mu.Lock()
			if _, newer := q.conns[name]; !newer {
				q.conns[name] = st
			}
			q.mu.Unlock()
			failed = true
		}
	}
	for id, st := range tasks {
		if err := q.store.PutTask(ctx, id, st); err != nil {
			q.logger.Warn("writing a task status; retried", "task", id, "err", err)
			q.mu.Lock()
			if _, newer := q.tasks[id]; !newer {
				q.tasks[id] = st
			}
			q.mu.Unlock()
			failed = true
		}
	}
	for k, at := range topics {
		if q.exists != nil && !q.exists(k.task.Connector) {
			continue // deleted since its task reported the topic
		}
		if err := q.store.PutTopic(ctx, k.task.Connector, k.task.Task, k.topic, at); err != nil {
			q.logger.Warn("writing a connector's topic; retried", "connector", k.task.Connector, "topic", k.topic, "err", err)
			q.mu.Lock()
			if _, newer := q.topics[k]; !newer {
				q.topics[k] = at
			}
			q.mu.Unlock()
			failed = true
		}
	}
	if failed {
		// A status that failed to be written (a leader moving) is
		// written again after a pause, unless a newer one replaced it.
		go func() {
			select {
			case <-q.stop:
			case <-time.After(time.Second):
				q.notify()
			}
		}()
	}
}

func (q *statusQueue) close() {
	close(q.stop)
	<-q.done
}
