package partition

import (
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/vfs"
)

// A write error in one replica's log takes the whole log directory
// offline: OnDirFailure is told once, every replica (the healthy one too)
// refuses appends and reads with log.ErrStorage, Maintain stops, and
// FailDir makes the other logs themselves refuse writes.
func TestManager_WriteErrorTakesTheDirectoryOffline(t *testing.T) {
	var broken atomic.Bool
	fsys := vfs.Inject(vfs.NewMem(), func(op vfs.Op) error {
		if broken.Load() && op.Kind == vfs.OpWrite && strings.Contains(op.Path, "/bad-0/") {
			return vfs.ErrInjected
		}
		return nil
	})
	var told []error
	m := NewManager(ManagerConfig{Dir: "/data", NodeID: 1, FS: fsys, OnDirFailure: func(err error) { told = append(told, err) }},
		slog.New(slog.DiscardHandler))
	defer m.Close()
	bad, err := m.Create(ID{"bad", 0}, [16]byte{1}, topicConfig(t, nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	good, err := m.Create(ID{"good", 0}, [16]byte{2}, topicConfig(t, nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, bad, batch(1, time.Now().UnixMilli()))
	mustAppend(t, good, batch(1, time.Now().UnixMilli()))
	if m.DirFailure() != nil {
		t.Fatalf("healthy directory: %v", m.DirFailure())
	}
	broken.Store(true)
	if _, err := bad.Append(batch(1, time.Now().UnixMilli()), time.Now()); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("append on a failing disk: %v, want ErrStorage", err)
	}
	if len(told) != 1 || !errors.Is(told[0], vfs.ErrInjected) || !errors.Is(m.DirFailure(), vfs.ErrInjected) {
		t.Fatalf("OnDirFailure told %v, DirFailure %v: want the injected error once", told, m.DirFailure())
	}
	if _, err := good.Append(batch(1, time.Now().UnixMilli()), time.Now()); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("append beside the failed replica: %v, want ErrStorage", err)
	}
	if _, err := good.Read(0, 1<<20, true, nil); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("read beside the failed replica: %v, want ErrStorage", err)
	}
	m.Maintain(time.Now().Add(time.Hour), true)
	m.FailDir(errors.New("again"))
	if _, err := good.log.Append(batch(1, time.Now().UnixMilli()), 0, -1); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("log append after FailDir: %v, want ErrStorage", err)
	}
	if len(told) != 1 {
		t.Fatalf("OnDirFailure told %d times, want once", len(told))
	}
}
