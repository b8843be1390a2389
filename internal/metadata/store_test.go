package metadata

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/fjordstream/fjord/internal/vfs"
)

// A folder made by MkdirAll survives a power cut with its parents, and a
// file written into it by WriteFileAtomic survives with its contents;
// without MkdirAll's parent fsyncs the folder would be lost (the strict
// POSIX rule MemFS applies).
func TestMkdirAll_DurableAcrossPowerLoss(t *testing.T) {
	m := vfs.NewMem()
	if err := MkdirAll(m, "/data/topic-0"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(m, "/data/topic-0/partition.metadata", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	got, err := vfs.ReadFile(m.CrashClone(vfs.CrashOptions{}), "/data/topic-0/partition.metadata")
	if err != nil || string(got) != "v1" {
		t.Fatalf("after the crash: %q, %v\n%s", got, err, m)
	}
	// An existing folder is left alone (and costs no folder fsync).
	if err := MkdirAll(m, "/data"); err != nil {
		t.Fatal(err)
	}

	// The control: a bare MkdirAll loses the new folder, file and all.
	if err := m.MkdirAll("/data/other-0", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(m, "/data/other-0/partition.metadata", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CrashClone(vfs.CrashOptions{}).Stat("/data/other-0"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a folder whose parent was never fsynced survived the crash: %v", err)
	}
}

// WriteFileAtomic leaves the old or the new contents after a crash at any
// of its operations, never a mix or nothing.
func TestWriteFileAtomic_CrashAtEveryStep(t *testing.T) {
	for step := 1; ; step++ {
		m := vfs.NewMem()
		if err := WriteFileAtomic(m, "/f", []byte("old")); err != nil {
			t.Fatal(err)
		}
		n := 0
		var crashed *vfs.MemFS
		fsys := vfs.Inject(m, func(op vfs.Op) error {
			if !op.Kind.Mutates() {
				return nil
			}
			if n++; n == step {
				crashed = m.CrashClone(vfs.CrashOptions{})
				return vfs.ErrInjected
			}
			return nil
		})
		err := WriteFileAtomic(fsys, "/f", []byte("new"))
		if crashed == nil {
			if err != nil {
				t.Fatal(err)
			}
			return // every step was crashed at
		}
		got, rerr := vfs.ReadFile(crashed, "/f")
		if rerr != nil || string(got) != "old" && string(got) != "new" {
			t.Fatalf("crash at step %d: %q, %v", step, got, rerr)
		}
		if err == nil {
			t.Fatalf("step %d: the injected error was not returned", step)
		}
	}
}

// A nil FS is the operating system's.
func TestStore_NilFSIsOS(t *testing.T) {
	dir := t.TempDir() + "/a/b"
	if err := MkdirAll(nil, dir); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(nil, dir+"/f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if b, err := vfs.ReadFile(vfs.OS(), dir+"/f"); err != nil || string(b) != "x" {
		t.Fatalf("%q %v", b, err)
	}
}
