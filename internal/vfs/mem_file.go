package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// memFile is an open handle on a MemFS file. Its fields other than the
// constants are guarded by MemFS.mu.
type memFile struct {
	fs                  *MemFS
	n                   *node
	name                string
	read, write, append bool

	off    int64 // Write's position (not used with append)
	closed bool
}

// check returns the error for using f: closed, or not opened for the
// access wanted. Caller holds mu.
func (f *memFile) check(op string, wantWrite bool) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, fs.ErrClosed)
	case wantWrite && !f.write, op == "read" && !f.read:
		return pathErr(op, f.name, syscall.EBADF)
	}
	return nil
}

// ReadAt reads at off; fewer bytes than len(b) come with io.EOF.
func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if off < 0 {
		return 0, pathErr("readat", f.name, errors.New("negative offset"))
	}
	if len(b) == 0 {
		return 0, nil // as os.File: no pread, so no check either
	}
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.n.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// Write writes at the handle's offset (at the end with O_APPEND).
func (f *memFile) Write(b []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, nil
	}
	off := f.off
	if f.append {
		off = int64(len(f.n.data))
	}
	f.n.writeAt(b, off, f.fs.now())
	f.off = off + int64(len(b))
	return len(b), nil
}

// WriteAt writes at off, extending the file with zeros if off is past its
// end. As with os.File, a handle opened with O_APPEND refuses it.
func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.append {
		return 0, errors.New("vfs: invalid use of WriteAt on file opened with O_APPEND")
	}
	if off < 0 {
		return 0, pathErr("writeat", f.name, errors.New("negative offset"))
	}
	if len(b) == 0 {
		return 0, nil // as os.File: no pwrite, so no check either
	}
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	f.n.writeAt(b, off, f.fs.now())
	return len(b), nil
}

// Sync makes the file's contents durable (not its name: see SyncDir).
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.n.sync()
	return nil
}

// Truncate changes the file's size, filling with zeros when it grows.
func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	f.n.truncate(size, f.fs.now())
	return nil
}

// Stat describes the file; its Name is the last component of the name it
// was opened with.
func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return nil, err
	}
	parts := split(f.name)
	base := "/"
	if len(parts) > 0 {
		base = parts[len(parts)-1]
	}
	return f.n.info(base), nil
}

// Close releases the handle; the file lives on in its folder.
func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

// Name returns the name the file was opened with.
func (f *memFile) Name() string { return f.name }

// writeAt writes b at off and records the change. Caller holds mu.
func (n *node) writeAt(b []byte, off int64, now time.Time) {
	n.data = applyWrite(n.data, b, off)
	n.pending = append(n.pending, change{off: off, data: append([]byte(nil), b...)})
	n.modTime = now
}

// truncate resizes the contents and records the change. Caller holds mu.
func (n *node) truncate(size int64, now time.Time) {
	n.data = applyTruncate(n.data, size)
	n.pending = append(n.pending, change{trunc: true, size: size})
	n.modTime = now
}

// sync makes the contents durable by replaying the pending changes onto
// the durable copy. Caller holds mu.
func (n *node) sync() {
	for _, c := range n.pending {
		n.synced = c.apply(n.synced)
	}
	n.pending = nil
}

// apply returns data with c applied.
func (c change) apply(data []byte) []byte {
	if c.trunc {
		return applyTruncate(data, c.size)
	}
	return applyWrite(data, c.data, c.off)
}

// applyWrite writes b at off into data, growing it with zeros as needed.
func applyWrite(data, b []byte, off int64) []byte {
	if end := off + int64(len(b)); end > int64(len(data)) {
		data = applyTruncate(data, end)
	}
	copy(data[off:], b)
	return data
}

// applyTruncate resizes data to size; bytes past the old end are zero.
func applyTruncate(data []byte, size int64) []byte {
	if size <= int64(len(data)) {
		return data[:size]
	}
	if size <= int64(cap(data)) {
		old := len(data)
		data = data[:size]
		clear(data[old:])
		return data
	}
	grown := make([]byte, size, max(size, 2*int64(cap(data))))
	copy(grown, data)
	return grown
}
