package partition

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/fjordstream/fjord/internal/log"
)

// dirHealth is whether the log directory of a Manager is online; its
// replicas share it. A write-side I/O error in any of them takes the whole
// directory offline, as Kafka's LogDirFailureChannel does: the disk under
// every replica is the same one, and after a failed write or fsync what it
// holds is unknown.
type dirHealth struct {
	failed atomic.Pointer[error]
}

// err is the directory's failure, nil while it is online.
func (d *dirHealth) err() error {
	if d == nil {
		return nil
	}
	if e := d.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// offline refuses any use of a replica whose log directory failed, with
// log.ErrStorage (KAFKA_STORAGE_ERROR, as Kafka answers for an offline
// replica).
func (p *Partition) offline() error {
	if err := p.health.err(); err != nil {
		return fmt.Errorf("partition %s: %w: the log directory is offline: %w", p.ID, log.ErrStorage, err)
	}
	return nil
}

// logFailed is every hosted log's Options.OnFailure. It runs with that
// log's lock held: it only records the failure and tells the owner, who
// calls FailDir from its own goroutine.
func (m *Manager) logFailed(err error) {
	m.reportFailure(fmt.Errorf("log directory %s: %w", m.dir, err))
}

// reportFailure takes the directory offline (the first failure only) and
// tells ManagerConfig.OnDirFailure.
func (m *Manager) reportFailure(err error) {
	if !m.health.failed.CompareAndSwap(nil, &err) {
		return
	}
	if m.onDirFailure != nil {
		m.onDirFailure(err)
		return
	}
	m.logger.Error("log directory failed: its replicas are offline", "dir", m.dir, "err", err)
}

// DirFailure is the failure that took the log directory offline, nil
// while it is online.
func (m *Manager) DirFailure() error { return m.health.err() }

// FailDir takes the log directory offline, if it is not already, and makes
// every hosted log refuse writes: after one replica's write or fsync failed
// on the disk, none of them may take another write that could be
// acknowledged (Kafka's ReplicaManager.handleLogDirFailure marks them all
// offline). Replicas answer KAFKA_STORAGE_ERROR from the moment the
// directory is offline; FailDir also fails the logs themselves, so writes
// already past that check stop too.
func (m *Manager) FailDir(err error) {
	m.reportFailure(err)
	cause := m.health.err()
	for _, p := range m.All() {
		p.log.Fail(cause)
	}
}

// isStorageFailure reports an error that shows the disk failing (not a
// closed or deleted replica, nor a refused request).
func isStorageFailure(err error) bool {
	return errors.Is(err, log.ErrStorage) && !errors.Is(err, log.ErrClosed)
}
