package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestInject_NthSyncFails: an injector counting operations fails exactly
// the n-th Sync; the failure wraps ErrInjected with the path, and the
// other operations pass through.
func TestInject_NthSyncFails(t *testing.T) {
	m := NewMem()
	var syncs atomic.Int32
	fsys := Inject(m, func(op Op) error {
		if op.Kind == OpSync && syncs.Add(1) == 2 {
			return ErrInjected
		}
		return nil
	})
	f, err := fsys.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	for i := range 3 {
		_, err := f.Write([]byte{byte('a' + i)})
		must(t, err)
		err = f.Sync()
		if got, want := err != nil, i == 1; got != want {
			t.Fatalf("sync %d: %v", i+1, err)
		}
		if err != nil && !errors.Is(err, ErrInjected) {
			t.Fatalf("sync error %v does not wrap ErrInjected", err)
		}
	}
	if OSFile(f) != nil {
		t.Fatal("an injected file must not be bypassed by sendfile")
	}
	must(t, f.Close())
}

// TestInject_FailedOpsHaveNoEffect: a failed write, rename or remove
// leaves the file system as it was; a failed Close still closes.
func TestInject_FailedOpsHaveNoEffect(t *testing.T) {
	m := NewMem()
	fail := OpKind(0)
	fsys := Inject(m, func(op Op) error {
		if op.Kind == fail {
			return ErrInjected
		}
		return nil
	})
	f, err := fsys.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	_, err = f.Write([]byte("kept"))
	must(t, err)
	fail = OpWrite
	if _, err := f.WriteAt([]byte("lost"), 4); !errors.Is(err, ErrInjected) {
		t.Fatalf("WriteAt: %v", err)
	}
	fail = OpRename
	var le *os.LinkError
	if err := fsys.Rename("/f", "/g"); !errors.As(err, &le) || !errors.Is(err, ErrInjected) {
		t.Fatalf("Rename: %v", err)
	}
	fail = OpRemove
	if err := fsys.Remove("/f"); !errors.Is(err, ErrInjected) {
		t.Fatalf("Remove: %v", err)
	}
	if got := contents(t, m, "/f"); got != "kept" {
		t.Fatalf("after failed operations /f holds %q", got)
	}
	fail = OpClose
	if err := f.Close(); !errors.Is(err, ErrInjected) {
		t.Fatalf("Close: %v", err)
	}
	fail = 0
	if err := f.Close(); err == nil {
		t.Fatal("a file whose Close failed by injection was not closed")
	}
}

// TestInject_CrashAtOperation takes a crash clone from inside the
// injector, at the rename of an atomic replace: the clone has the old
// contents, while the original goes on to finish the replace.
func TestInject_CrashAtOperation(t *testing.T) {
	m := NewMem()
	var crashed *MemFS
	fsys := Inject(m, func(op Op) error {
		if op.Kind == OpRename && crashed == nil {
			crashed = m.CrashClone(CrashOptions{})
		}
		return nil
	})
	replace := func(data string) {
		f, err := fsys.OpenFile("/ck.tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		must(t, err)
		_, err = f.Write([]byte(data))
		must(t, err)
		must(t, f.Sync())
		must(t, f.Close())
		must(t, fsys.Rename("/ck.tmp", "/ck"))
		must(t, fsys.SyncDir("/"))
	}
	replace("v1")
	if got := contents(t, crashed, "/ck"); got != "<none>" {
		t.Fatalf("crash before the first rename: /ck holds %q", got)
	}
	crashed = nil
	replace("v2")
	if got := contents(t, crashed, "/ck"); got != "v1" {
		t.Fatalf("crash before the second rename: /ck holds %q", got)
	}
	if got := contents(t, m, "/ck"); got != "v2" {
		t.Fatalf("the original holds %q", got)
	}
}

// TestInject_OS: injection works over the OS file system too.
func TestInject_OS(t *testing.T) {
	dir := t.TempDir()
	fsys := Inject(OS(), func(op Op) error {
		if op.Kind == OpSyncDir {
			return ErrInjected
		}
		return nil
	})
	must(t, fsys.MkdirAll(filepath.Join(dir, "x"), 0o755))
	if err := fsys.SyncDir(dir); !errors.Is(err, ErrInjected) {
		t.Fatalf("SyncDir: %v", err)
	}
	if OpSyncDir.String() != "syncdir" || !OpSyncDir.Mutates() || OpRead.Mutates() {
		t.Fatal("OpKind names or Mutates wrong")
	}
}
