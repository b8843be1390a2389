package vfs

import (
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory file system that remembers what is durable, so
// that CrashClone can show what a power loss would leave. Its rules are
// the strict reading of POSIX, what a file system without a journal may do
// (ext4 and XFS journal names and usually keep more, such as a new name
// with the next fsync of anything; code must not count on that):
//
//   - A file's contents (writes and truncations, in order) become durable
//     when File.Sync is called on any handle of it; until then a crash
//     loses them all (or, with CrashOptions.Rand, keeps a prefix of them).
//   - A folder's entries (files and folders created in it, renamed into or
//     out of it, removed from it) become durable when FS.SyncDir of that
//     folder is called. Syncing a file does not make its name durable, and
//     syncing a folder does not make its files' contents durable. A file
//     whose name is not durable is lost with its contents, however synced.
//   - A rename within one folder is atomic (one entry change); a rename
//     across folders is two changes, one per folder, each durable with its
//     own folder (the file may survive under both names or neither).
//   - The root folder always exists.
//
// Open handles keep working on a file after it is removed or renamed, as
// on POSIX. All methods are safe for concurrent use; one mutex guards the
// whole tree, which is plenty for tests.
type MemFS struct {
	mu   sync.Mutex
	root *node // guarded by mu, as is every node below it
	now  func() time.Time
}

// node is a file or a folder (an inode). Guarded by MemFS.mu.
type node struct {
	dir     bool
	mode    os.FileMode
	modTime time.Time

	// Files: data is what readers see; synced is the durable contents and
	// pending the changes since, oldest first (Sync replays them onto
	// synced, so an fsync costs what was written since the last one).
	data    []byte
	synced  []byte
	pending []change

	// Folders: kids are the current entries; syncedKids the durable ones
	// and dirPending the entry changes since, oldest first.
	kids       map[string]*node
	syncedKids map[string]*node
	dirPending []dirChange
}

// change is one unsynced change to a file's contents: a write of data at
// off, or (trunc) a truncation to size.
type change struct {
	off   int64
	data  []byte
	trunc bool
	size  int64
}

// dirChange is one unsynced change to a folder: name now refers to n (nil:
// removed); from, if set, is removed by the same change (an atomic rename
// within the folder).
type dirChange struct {
	name string
	n    *node
	from string
}

// NewMem returns an empty in-memory file system whose root folder is "/";
// relative names are taken from the root.
func NewMem() *MemFS {
	return &MemFS{root: newDir(0o755, time.Now()), now: time.Now}
}

func newDir(perm os.FileMode, now time.Time) *node {
	return &node{dir: true, mode: fs.ModeDir | perm.Perm(), modTime: now, kids: map[string]*node{}, syncedKids: map[string]*node{}}
}

// split cleans name into its components below the root.
func split(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// lookupDir returns the folder at parts. Caller holds mu.
func (m *MemFS) lookupDir(parts []string) (*node, error) {
	d := m.root
	for _, p := range parts {
		n, ok := d.kids[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		d = n
	}
	return d, nil
}

// lookup returns the parent folder of name, its last component and the
// node it names (nil if none). Caller holds mu.
func (m *MemFS) lookup(name string) (parent *node, base string, n *node, err error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", m.root, nil
	}
	parent, err = m.lookupDir(parts[:len(parts)-1])
	if err != nil {
		return nil, "", nil, err
	}
	base = parts[len(parts)-1]
	return parent, base, parent.kids[base], nil
}

// link sets a folder entry and records the change. Caller holds mu.
func (d *node) link(name string, n *node, now time.Time) {
	d.kids[name] = n
	d.dirPending = append(d.dirPending, dirChange{name: name, n: n})
	d.modTime = now
}

// unlink removes a folder entry and records the change. Caller holds mu.
func (d *node) unlink(name string, now time.Time) {
	delete(d.kids, name)
	d.dirPending = append(d.dirPending, dirChange{name: name})
	d.modTime = now
}

// OpenFile opens or creates a file. Folders cannot be opened (use
// SyncDir and ReadDir); O_TRUNC truncates only when opening for writing.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, n, err := m.lookup(name)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	now := m.now()
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case n == nil:
		n = &node{mode: perm.Perm(), modTime: now}
		parent.link(base, n, now)
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, pathErr("open", name, fs.ErrExist)
	case n.dir:
		return nil, pathErr("open", name, syscall.EISDIR)
	case flag&os.O_TRUNC != 0 && writable:
		n.truncate(0, now)
	}
	return &memFile{fs: m, n: n, name: name, read: flag&os.O_WRONLY == 0, write: writable, append: flag&os.O_APPEND != 0}, nil
}

// Remove removes a file or an empty folder.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, n, err := m.lookup(name)
	switch {
	case err != nil:
		return pathErr("remove", name, err)
	case n == nil:
		return pathErr("remove", name, fs.ErrNotExist)
	case parent == nil:
		return pathErr("remove", name, syscall.EBUSY) // the root
	case n.dir && len(n.kids) > 0:
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	parent.unlink(base, m.now())
	return nil
}

// RemoveAll removes name and what is below it (one entry change in its
// parent); a missing name is not an error. On the root it empties it.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent, base, n, err := m.lookup(name)
	if err != nil || n == nil {
		return nil
	}
	now := m.now()
	if parent == nil {
		for _, k := range slices.Sorted(maps.Keys(n.kids)) {
			n.unlink(k, now)
		}
		return nil
	}
	parent.unlink(base, now)
	return nil
}

// Rename moves oldname to newname, replacing a file there. As os.Rename
// does, it refuses to replace a folder (fs.ErrExist).
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	lerr := func(err error) error { return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err} }
	// Both folders are looked up before the entry, as Linux does.
	op, ob, n, err := m.lookup(oldname)
	if err != nil {
		return lerr(err)
	}
	np, nb, target, err := m.lookup(newname)
	if err != nil {
		return lerr(err)
	}
	if n == nil {
		return lerr(fs.ErrNotExist)
	}
	if op == nil || np == nil {
		return lerr(syscall.EBUSY) // the root
	}
	switch {
	case target != nil && target.dir:
		// As os.Rename: never over a folder, not even itself.
		return lerr(syscall.EEXIST)
	case n == target:
		return nil
	case n.dir && target != nil:
		return lerr(syscall.ENOTDIR)
	}
	if oldParts, newParts := split(oldname), split(newname); n.dir && len(newParts) > len(oldParts) && slices.Equal(oldParts, newParts[:len(oldParts)]) {
		return lerr(syscall.EINVAL) // a folder into itself
	}
	now := m.now()
	if op == np {
		delete(op.kids, ob)
		op.kids[nb] = n
		op.dirPending = append(op.dirPending, dirChange{name: nb, n: n, from: ob})
		op.modTime = now
		return nil
	}
	op.unlink(ob, now)
	np.link(nb, n, now)
	return nil
}

// MkdirAll creates the folder and its missing parents, each an entry
// change of its own parent.
func (m *MemFS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.root
	for _, p := range split(name) {
		n, ok := d.kids[p]
		if !ok {
			n = newDir(perm, m.now())
			d.link(p, n, n.modTime)
		} else if !n.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		d = n
	}
	return nil
}

// ReadDir lists a folder, sorted by name.
func (m *MemFS) ReadDir(name string) ([]os.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.lookupDir(split(name))
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	out := make([]os.DirEntry, 0, len(d.kids))
	for _, k := range slices.Sorted(maps.Keys(d.kids)) {
		out = append(out, fs.FileInfoToDirEntry(d.kids[k].info(k)))
	}
	return out, nil
}

// Stat describes name.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, base, n, err := m.lookup(name)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	if base == "" {
		base = "/"
	}
	return n.info(base), nil
}

// SyncDir makes the folder's current entries durable.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.lookupDir(split(name))
	if err != nil {
		return pathErr("sync", name, err)
	}
	d.syncedKids = maps.Clone(d.kids)
	d.dirPending = nil
	return nil
}

// info describes n under name. Caller holds mu.
func (n *node) info(name string) os.FileInfo {
	return &memInfo{name: name, size: int64(len(n.data)), mode: n.mode, modTime: n.modTime}
}

// memInfo is a snapshot of a node's attributes.
type memInfo struct {
	name    string
	size    int64
	mode    os.FileMode
	modTime time.Time
}

func (i *memInfo) Name() string       { return i.name }
func (i *memInfo) Size() int64        { return i.size }
func (i *memInfo) Mode() os.FileMode  { return i.mode }
func (i *memInfo) ModTime() time.Time { return i.modTime }
func (i *memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *memInfo) Sys() any           { return nil }
