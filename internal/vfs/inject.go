package vfs

import (
	"errors"
	"io/fs"
	"os"
)

// ErrInjected is a ready-made error for injectors to return.
var ErrInjected = errors.New("vfs: injected error")

// OpKind names an operation an Injector is asked about.
type OpKind uint8

// The operations, one per method of FS and File.
const (
	OpOpen      OpKind = iota + 1 // FS.OpenFile
	OpRead                        // File.ReadAt
	OpWrite                       // File.Write, File.WriteAt
	OpSync                        // File.Sync
	OpTruncate                    // File.Truncate
	OpStat                        // FS.Stat, File.Stat
	OpClose                       // File.Close
	OpRemove                      // FS.Remove
	OpRemoveAll                   // FS.RemoveAll
	OpRename                      // FS.Rename
	OpMkdirAll                    // FS.MkdirAll
	OpReadDir                     // FS.ReadDir
	OpSyncDir                     // FS.SyncDir
)

var opNames = [...]string{"", "open", "read", "write", "sync", "truncate", "stat", "close", "remove", "removeall", "rename", "mkdirall", "readdir", "syncdir"}

// String returns the operation's name, as in error messages.
func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return "unknown"
}

// Mutates reports whether the operation can change what is on disk: the
// points at which a simulated crash is worth taking.
func (k OpKind) Mutates() bool {
	switch k {
	case OpOpen, OpWrite, OpSync, OpTruncate, OpRemove, OpRemoveAll, OpRename, OpMkdirAll, OpSyncDir:
		return true
	}
	return false
}

// Op is one operation about to run.
type Op struct {
	Kind OpKind
	// Path is the name operated on; for a File's methods, the name it was
	// opened with.
	Path string
	// NewPath is Rename's destination.
	NewPath string
	// Flag is OpenFile's flags.
	Flag int
}

// Injector is consulted before every operation of an injected FS and its
// files; a non-nil result fails the operation, which then has no effect
// (a failed write writes nothing). It is called from any goroutine using
// the FS, without any lock of the FS held, so it may take a
// MemFS.CrashClone.
type Injector func(Op) error

// Inject returns fsys with inj consulted before each operation. Its files
// are not OS files for OSFile, so reads go through ReadAt (and inj) rather
// than sendfile. Each open file costs one more allocation than fsys's.
func Inject(fsys FS, inj Injector) FS { return &injectFS{fs: fsys, inj: inj} }

type injectFS struct {
	fs  FS
	inj Injector
}

// maybe consults the injector; an error comes wrapped like the FS's own.
func (x *injectFS) maybe(op Op) error {
	if err := x.inj(op); err != nil {
		if op.Kind == OpRename {
			return &os.LinkError{Op: op.Kind.String(), Old: op.Path, New: op.NewPath, Err: err}
		}
		return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
	}
	return nil
}

func (x *injectFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := x.maybe(Op{Kind: OpOpen, Path: name, Flag: flag}); err != nil {
		return nil, err
	}
	f, err := x.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectFile{f: f, x: x}, nil
}

func (x *injectFS) Remove(name string) error {
	if err := x.maybe(Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return x.fs.Remove(name)
}

func (x *injectFS) RemoveAll(name string) error {
	if err := x.maybe(Op{Kind: OpRemoveAll, Path: name}); err != nil {
		return err
	}
	return x.fs.RemoveAll(name)
}

func (x *injectFS) Rename(oldname, newname string) error {
	if err := x.maybe(Op{Kind: OpRename, Path: oldname, NewPath: newname}); err != nil {
		return err
	}
	return x.fs.Rename(oldname, newname)
}

func (x *injectFS) MkdirAll(name string, perm os.FileMode) error {
	if err := x.maybe(Op{Kind: OpMkdirAll, Path: name}); err != nil {
		return err
	}
	return x.fs.MkdirAll(name, perm)
}

func (x *injectFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := x.maybe(Op{Kind: OpReadDir, Path: name}); err != nil {
		return nil, err
	}
	return x.fs.ReadDir(name)
}

func (x *injectFS) Stat(name string) (os.FileInfo, error) {
	if err := x.maybe(Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return x.fs.Stat(name)
}

func (x *injectFS) SyncDir(name string) error {
	if err := x.maybe(Op{Kind: OpSyncDir, Path: name}); err != nil {
		return err
	}
	return x.fs.SyncDir(name)
}

// injectFile consults the injector before each operation on f.
type injectFile struct {
	f File
	x *injectFS
}

func (f *injectFile) op(k OpKind) error { return f.x.maybe(Op{Kind: k, Path: f.f.Name()}) }

func (f *injectFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.op(OpRead); err != nil {
		return 0, err
	}
	return f.f.ReadAt(b, off)
}

func (f *injectFile) Write(b []byte) (int, error) {
	if err := f.op(OpWrite); err != nil {
		return 0, err
	}
	return f.f.Write(b)
}

func (f *injectFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.op(OpWrite); err != nil {
		return 0, err
	}
	return f.f.WriteAt(b, off)
}

func (f *injectFile) Sync() error {
	if err := f.op(OpSync); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *injectFile) Truncate(size int64) error {
	if err := f.op(OpTruncate); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *injectFile) Stat() (os.FileInfo, error) {
	if err := f.op(OpStat); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

// Close always closes the file, after the injector had its say: an
// injected close error must not leak the handle.
func (f *injectFile) Close() error {
	ierr := f.op(OpClose)
	if err := f.f.Close(); err != nil {
		return err
	}
	return ierr
}

func (f *injectFile) Name() string { return f.f.Name() }
