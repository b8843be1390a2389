package herder

import (
	"context"
	"sync"
	"time"
)

// taskConfigWriter writes connectors' task configurations to the config
// topic from one goroutine, the latest set per connector: two writes of
// one connector in flight together could interleave their task records
// under one commit, or the older could commit last. A set is written only
// while the connector instance that computed it still runs here (a
// revoked connector's late write would overwrite its new owner's).
type taskConfigWriter struct {
	d *Distributed

	mu      sync.Mutex
	pending map[string]taskSet
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

type taskSet struct {
	rc    *runningConnector
	tasks []map[string]string
}

func newTaskConfigWriter(d *Distributed) *taskConfigWriter {
	return &taskConfigWriter{d: d, pending: map[string]taskSet{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

func (w *taskConfigWriter) put(name string, rc *runningConnector, tasks []map[string]string) {
	w.mu.Lock()
	w.pending[name] = taskSet{rc: rc, tasks: tasks}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *taskConfigWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
		w.mu.Lock()
		pending := w.pending
		w.pending = map[string]taskSet{}
		w.mu.Unlock()
		for name, set := range pending {
			w.d.mu.Lock()
			owned := w.d.running[name] == set.rc && set.rc.ctx.live() && !w.d.closing
			w.d.mu.Unlock()
			if !owned {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := w.d.configs.PutTaskConfigs(ctx, name, set.tasks)
			cancel()
			if err != nil {
				w.d.cfg.Logger.Warn("writing task configurations; retried", "connector", name, "err", err)
				w.mu.Lock()
				if _, newer := w.pending[name]; !newer {
					w.pending[name] = set
				}
				w.mu.Unlock()
				select {
				case <-w.stop:
					return
				case <-time.After(time.Second):
				}
				select {
				case w.wake <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (w *taskConfigWriter) close() {
	close(w.stop)
	<-w.done
}
