package vfs

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
)

// CrashOptions shape what a simulated power loss keeps.
type CrashOptions struct {
	// Rand, when nil, makes the crash drop every unsynced change: the
	// clone holds exactly the durable state. When set, each file keeps a
	// random prefix of its unsynced changes, the last of them possibly
	// torn (a write cut at a random byte), and each folder a random prefix
	// of its unsynced entry changes: the disk wrote back some of the page
	// cache, in order, before the power went. (Real disks may also write
	// back out of order or leave zeros where data was due; that is not
	// modelled.) A prefix is only ever a possible outcome, so code
	// correct under the strict rule must also be correct here.
	Rand *rand.Rand
}

// CrashClone returns a new MemFS holding what a power loss at this instant
// would leave on disk: the durable state, plus what opts lets survive.
// Everything in the clone is durable (a second crash of it loses nothing).
// The receiver is not changed: the test discards it and its open files
// (they keep working on the old tree, never on the clone). Taking the
// clone inside an Inject hook gives a crash at an exact operation.
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	return CrashCloneAll(opts, m)[0]
}

// CrashCloneAll cuts the power of several machines at one instant: it
// takes the lock of every file system before cloning any, so no operation
// on any of them falls between two of the clones (as it could with one
// CrashClone after another), and returns the clones in the same order.
// The file systems must be distinct, and two CrashCloneAll calls must not
// run at once on file systems they share (each takes the locks in its own
// order). Ordinary operations take one file system's lock at a time, so
// they cannot deadlock with it.
func CrashCloneAll(opts CrashOptions, fss ...*MemFS) []*MemFS {
	for _, m := range fss {
		m.mu.Lock()
	}
	defer func() {
		for _, m := range fss {
			m.mu.Unlock()
		}
	}()
	out := make([]*MemFS, len(fss))
	for i, m := range fss {
		c := &crashCloner{rng: opts.Rand, done: map[*node]*node{}}
		out[i] = &MemFS{root: c.clone(m.root), now: m.now}
	}
	return out
}

// crashCloner copies the surviving part of a tree, each node once (a node
// reachable under two names, after a rename across folders, stays one).
type crashCloner struct {
	rng  *rand.Rand
	done map[*node]*node
}

// prefix returns how many of n pending changes survive.
func (c *crashCloner) prefix(n int) int {
	if c.rng == nil || n == 0 {
		return 0
	}
	return c.rng.IntN(n + 1)
}

func (c *crashCloner) clone(n *node) *node {
	if cn, ok := c.done[n]; ok {
		return cn
	}
	cn := &node{dir: n.dir, mode: n.mode, modTime: n.modTime}
	c.done[n] = cn
	if !n.dir {
		data := append([]byte(nil), n.synced...)
		k := c.prefix(len(n.pending))
		for _, ch := range n.pending[:k] {
			data = ch.apply(data)
		}
		if c.rng != nil && k < len(n.pending) && !n.pending[k].trunc && c.rng.IntN(2) == 0 {
			// The next write was under way: part of it made it.
			ch := n.pending[k]
			ch.data = ch.data[:c.rng.IntN(len(ch.data)+1)]
			data = ch.apply(data)
		}
		cn.data, cn.synced = data, append([]byte(nil), data...)
		return cn
	}
	entries := maps.Clone(n.syncedKids)
	for _, ch := range n.dirPending[:c.prefix(len(n.dirPending))] {
		if ch.from != "" {
			delete(entries, ch.from)
		}
		if ch.n == nil {
			delete(entries, ch.name)
		} else {
			entries[ch.name] = ch.n
		}
	}
	cn.kids = make(map[string]*node, len(entries))
	// Sorted, so that the random choices follow the seed.
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		cn.kids[name] = c.clone(entries[name])
	}
	cn.syncedKids = maps.Clone(cn.kids)
	return cn
}

// String lists the tree, one line per entry: its path, and for a file its
// size and durable size, with "unsynced name" when the entry itself is not
// durable. For test failure messages.
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	var walk func(d *node, prefix string)
	walk = func(d *node, prefix string) {
		for _, name := range slices.Sorted(maps.Keys(d.kids)) {
			n := d.kids[name]
			note := ""
			if d.syncedKids[name] != n {
				note = " (unsynced name)"
			}
			if n.dir {
				fmt.Fprintf(&b, "%s%s/%s\n", prefix, name, note)
				walk(n, prefix+name+"/")
				continue
			}
			fmt.Fprintf(&b, "%s%s %d bytes, %d synced, %d changes pending%s\n", prefix, name, len(n.data), len(n.synced), len(n.pending), note)
		}
	}
	walk(m.root, "/")
	return b.String()
}
