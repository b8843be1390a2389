// Package vfs is the file-system seam of a node: every file operation of
// internal/log, and of the packages that keep files beside it (partition,
// controller, node), goes through an FS, so the same code runs on the
// operating system's file system (OS) in production and on an in-memory
// one (MemFS) in tests, where a power loss can be simulated by dropping
// every change that was not fsynced (MemFS.CrashClone, or CrashCloneAll
// for several machines at one instant), and where any operation can be
// made to fail (Inject).
//
// Invariants:
//   - The interfaces carry exactly the POSIX durability contract the log
//     relies on, no more: data written to a File is durable once File.Sync
//     returns; a name created, renamed or removed in a folder is durable
//     once FS.SyncDir of that folder returns. MemFS drops, on a crash,
//     whatever these two calls did not cover (see MemFS for the rules), so
//     code that passes its crash tests does not depend on the ordering
//     luck of a particular file system.
//   - Errors are those of package os (*fs.PathError, *os.LinkError,
//     wrapping fs.ErrNotExist, fs.ErrExist, fs.ErrClosed ...), so callers
//     branch with errors.Is the same way on every FS.
//   - The package holds no mutable global state (only the ErrInjected
//     sentinel and constant tables): OS() returns a fresh value, and each
//     MemFS is independent, so many nodes can run in one test process.
package vfs

import (
	"fmt"
	"io"
	"os"
)

// File is an open file of an FS. Its methods are those of *os.File that
// the storage engine uses; ReadAt and WriteAt take explicit offsets and
// may run concurrently with each other (as pread/pwrite do), the other
// methods are not meant to race with writes on the same file.
type File interface {
	io.ReaderAt
	// Write writes at the file's offset (sequential writers such as
	// index and checkpoint files, or a bufio.Writer).
	io.Writer
	io.WriterAt
	// Sync makes the file's data durable (fsync(2)). Its name is durable
	// only after FS.SyncDir of its folder.
	Sync() error
	// Truncate changes the file's size (durable after Sync).
	Truncate(size int64) error
	// Stat describes the file (Size, ModTime are used).
	Stat() (os.FileInfo, error)
	// Close releases the file; later calls fail with fs.ErrClosed.
	Close() error
	// Name returns the name the file was opened with.
	Name() string
}

// FS is a file system: the operating system's (OS) or an in-memory one
// (NewMem). Names are paths as package os takes them; MemFS treats a
// relative name as relative to its root.
type FS interface {
	// OpenFile opens name with os.OpenFile's flags (O_RDONLY, O_WRONLY,
	// O_RDWR, O_CREATE, O_EXCL, O_TRUNC, O_APPEND) and permissions.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file or an empty folder.
	Remove(name string) error
	// RemoveAll removes name and everything below it; a missing name is
	// not an error.
	RemoveAll(name string) error
	// Rename renames oldname to newname, replacing a file of that name.
	Rename(oldname, newname string) error
	// MkdirAll creates a folder and any missing parents.
	MkdirAll(name string, perm os.FileMode) error
	// ReadDir lists a folder, sorted by name.
	ReadDir(name string) ([]os.DirEntry, error)
	// Stat describes name.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the folder's entries durable: files created, renamed
	// into or removed from it (fsync(2) of the folder).
	SyncDir(name string) error
}

// ReadFile returns the contents of name, as os.ReadFile does.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, st.Size())
	n, err := f.ReadAt(data, 0)
	if err == io.EOF && n == len(data) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data[:n], nil
}

// OSFile returns the operating-system file behind f, or nil when f is not
// one (a MemFS file, or a wrapped file that must not be bypassed). The
// server uses it to send file regions with sendfile(2); every other use
// goes through File. An *os.File is itself a File and is returned as is;
// an FS wrapping OS files may expose them by giving its File an
// OSFile() *os.File method, as OS does.
func OSFile(f File) *os.File {
	switch f := f.(type) {
	case *os.File:
		return f
	case interface{ OSFile() *os.File }:
		return f.OSFile()
	}
	return nil
}
