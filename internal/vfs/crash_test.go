package vfs

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// mustOpen opens name read-write, creating it.
func mustOpen(t *testing.T, m FS, name string) File {
	t.Helper()
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// contents returns the file's contents, or "<none>" if it does not exist.
func contents(t *testing.T, m FS, name string) string {
	t.Helper()
	b, err := ReadFile(m, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "<none>"
	}
	must(t, err)
	return string(b)
}

// TestMemFS_CrashRules checks each rule of MemFS's doc comment: what a
// strict crash (no unsynced change survives) leaves.
func TestMemFS_CrashRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, m *MemFS)
		want map[string]string // path -> contents after the crash
	}{{
		name: "unsynced name is lost even with synced data",
		do: func(t *testing.T, m *MemFS) {
			f := mustOpen(t, m, "/d/f")
			_, _ = f.Write([]byte("data"))
			must(t, f.Sync())
		},
		want: map[string]string{"/d/f": "<none>"},
	}, {
		name: "synced name without synced data is an empty file",
		do: func(t *testing.T, m *MemFS) {
			f := mustOpen(t, m, "/d/f")
			_, _ = f.Write([]byte("data"))
			must(t, m.SyncDir("/d"))
		},
		want: map[string]string{"/d/f": ""},
	}, {
		name: "both synced survive",
		do: func(t *testing.T, m *MemFS) {
			f := mustOpen(t, m, "/d/f")
			_, _ = f.Write([]byte("data"))
			must(t, f.Sync())
			must(t, m.SyncDir("/d"))
		},
		want: map[string]string{"/d/f": "data"},
	}, {
		name: "writes and truncations after the sync are lost",
		do: func(t *testing.T, m *MemFS) {
			f := mustOpen(t, m, "/d/f")
			_, _ = f.Write([]byte("data"))
			must(t, f.Sync())
			must(t, m.SyncDir("/d"))
			_, _ = f.WriteAt([]byte("XY"), 1)
			_, _ = f.Write([]byte("more"))
			must(t, f.Truncate(2))
		},
		want: map[string]string{"/d/f": "data"},
	}, {
		name: "sync through any handle, even read-only",
		do: func(t *testing.T, m *MemFS) {
			f := mustOpen(t, m, "/d/f")
			_, _ = f.Write([]byte("data"))
			must(t, m.SyncDir("/d"))
			r, err := m.OpenFile("/d/f", os.O_RDONLY, 0)
			must(t, err)
			must(t, r.Sync())
		},
		want: map[string]string{"/d/f": "data"},
	}, {
		name: "unsynced rename and remove are undone",
		do: func(t *testing.T, m *MemFS) {
			for _, n := range []string{"/d/a", "/d/b"} {
				f := mustOpen(t, m, n)
				_, _ = f.Write([]byte(n))
				must(t, f.Sync())
			}
			must(t, m.SyncDir("/d"))
			must(t, m.Rename("/d/a", "/d/c"))
			must(t, m.Remove("/d/b"))
		},
		want: map[string]string{"/d/a": "/d/a", "/d/b": "/d/b", "/d/c": "<none>"},
	}, {
		name: "synced rename over a file is atomic",
		do: func(t *testing.T, m *MemFS) {
			old := mustOpen(t, m, "/d/ck")
			_, _ = old.Write([]byte("old"))
			must(t, old.Sync())
			must(t, m.SyncDir("/d"))
			tmp := mustOpen(t, m, "/d/ck.tmp")
			_, _ = tmp.Write([]byte("new"))
			must(t, tmp.Sync())
			must(t, m.Rename("/d/ck.tmp", "/d/ck"))
			must(t, m.SyncDir("/d"))
		},
		want: map[string]string{"/d/ck": "new", "/d/ck.tmp": "<none>"},
	}, {
		name: "a removed file's open handle does not bring it back",
		do: func(t *testing.T, m *MemFS) {
			f := mustOpen(t, m, "/d/f")
			must(t, m.SyncDir("/d"))
			must(t, m.Remove("/d/f"))
			must(t, m.SyncDir("/d"))
			_, _ = f.Write([]byte("late"))
			must(t, f.Sync())
		},
		want: map[string]string{"/d/f": "<none>"},
	}, {
		name: "new folder needs its parent synced",
		do: func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("/d/e", 0o755))
			f := mustOpen(t, m, "/d/e/f")
			_, _ = f.Write([]byte("x"))
			must(t, f.Sync())
			must(t, m.SyncDir("/d/e"))
		},
		want: map[string]string{"/d/e/f": "<none>"},
	}, {
		name: "rename across folders is two changes",
		do: func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("/d/e", 0o755))
			must(t, m.SyncDir("/d"))
			f := mustOpen(t, m, "/d/f")
			_, _ = f.Write([]byte("x"))
			must(t, f.Sync())
			must(t, m.SyncDir("/d"))
			must(t, m.Rename("/d/f", "/d/e/f"))
			must(t, m.SyncDir("/d/e")) // not /d: both names survive
		},
		want: map[string]string{"/d/f": "x", "/d/e/f": "x"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			must(t, m.MkdirAll("/d", 0o755))
			must(t, m.SyncDir("/"))
			tc.do(t, m)
			c := m.CrashClone(CrashOptions{})
			for p, want := range tc.want {
				if got := contents(t, c, p); got != want {
					t.Errorf("%s after crash: %q, want %q\nbefore:\n%s", p, got, want, m)
				}
			}
			// Everything in a clone is durable: a second crash keeps it.
			again := c.CrashClone(CrashOptions{})
			if a, b := treeOf(t, c, "/"), treeOf(t, again, "/"); !slices.Equal(a, b) {
				t.Errorf("second crash changed the clone:\n%q\n%q", a, b)
			}
		})
	}
}

// TestMemFS_CrashModel drives MemFS with random operations on two
// folders and checks every crash against a model written the other way
// round: a file's durable contents are a copy of its contents taken at
// its last Sync, a folder's durable entries a copy of its entries taken at
// its last SyncDir. With CrashOptions.Rand the contents must be one of
// the states between the durable one and the current one (a prefix of
// the changes since, the last maybe torn), and each folder's entries one
// of the states between its durable entries and its current ones.
func TestMemFS_CrashModel(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	for run := range 200 {
		checkCrashModel(t, rng, run)
	}
}

// modelFile is the model of one file (an inode): its states since its
// last sync, oldest (the durable one) first; writes also remember the
// bytes and offset (for torn writes).
type modelFile struct {
	states []string
	writes []*change // parallel to states[1:]: the write that made it, or nil
	h      File
}

func checkCrashModel(t *testing.T, rng *rand.Rand, run int) {
	m := NewMem()
	dirs := []string{"/a", "/b"}
	for _, d := range dirs {
		must(t, m.MkdirAll(d, 0o755))
	}
	must(t, m.SyncDir("/"))
	var files []*modelFile
	// entries[d]: the folder's entry states since its last SyncDir, as
	// name -> file index, oldest first.
	entries := map[string][]map[string]int{"/a": {{}}, "/b": {{}}}
	cur := func(d string) map[string]int { return entries[d][len(entries[d])-1] }
	setEntries := func(d string, e map[string]int) { entries[d] = append(entries[d], e) }
	names := []string{"x", "y", "z"}
	var trace []string
	for range 40 {
		d, name := dirs[rng.IntN(2)], names[rng.IntN(3)]
		p := d + "/" + name
		idx, exists := cur(d)[name]
		switch op := rng.IntN(8); {
		case op == 0 && !exists:
			f := &modelFile{states: []string{""}, h: mustOpen(t, m, p)}
			files = append(files, f)
			e := cloneMap(cur(d))
			e[name] = len(files) - 1
			setEntries(d, e)
			trace = append(trace, "create "+p)
		case op == 1 && exists:
			f := files[idx]
			data := []byte(string(rune('a' + rng.IntN(26))))
			data = slices.Repeat(data, 1+rng.IntN(5))
			off := int64(rng.IntN(8))
			_, err := f.h.WriteAt(data, off)
			must(t, err)
			f.states = append(f.states, string(applyWrite([]byte(f.states[len(f.states)-1]), data, off)))
			f.writes = append(f.writes, &change{off: off, data: data})
			trace = append(trace, "write "+p)
		case op == 2 && exists:
			f := files[idx]
			size := int64(rng.IntN(6))
			must(t, f.h.Truncate(size))
			f.states = append(f.states, string(applyTruncate([]byte(f.states[len(f.states)-1]), size)))
			f.writes = append(f.writes, nil)
			trace = append(trace, "truncate "+p)
		case op == 3 && exists:
			f := files[idx]
			must(t, f.h.Sync())
			f.states, f.writes = f.states[len(f.states)-1:], nil
			trace = append(trace, "sync "+p)
		case op == 4:
			must(t, m.SyncDir(d))
			entries[d] = entries[d][len(entries[d])-1:]
			trace = append(trace, "syncdir "+d)
		case op == 5 && exists:
			must(t, m.Remove(p))
			e := cloneMap(cur(d))
			delete(e, name)
			setEntries(d, e)
			trace = append(trace, "remove "+p)
		case op == 6 && exists:
			to := names[rng.IntN(3)]
			if to == name {
				continue
			}
			must(t, m.Rename(p, d+"/"+to))
			e := cloneMap(cur(d))
			delete(e, name)
			e[to] = idx
			setEntries(d, e)
			trace = append(trace, "rename "+p+" "+to)
		}
	}
	torn := run%2 == 1
	opts := CrashOptions{}
	if torn {
		opts.Rand = rng
	}
	c := m.CrashClone(opts)
	for _, d := range dirs {
		es, err := c.ReadDir(d)
		must(t, err)
		got := map[string]string{}
		for _, e := range es {
			got[e.Name()] = contents(t, c, d+"/"+e.Name())
		}
		states := entries[d]
		if !torn {
			states = states[:1]
		}
		if !slices.ContainsFunc(states, func(s map[string]int) bool { return entriesMatch(s, got, files, torn) }) {
			t.Fatalf("run %d (torn %v): folder %s after crash holds %q; allowed entry states %v\nops: %q", run, torn, d, got, states, trace)
		}
	}
}

// entriesMatch reports whether the folder state want (name -> file index)
// explains got (name -> contents after the crash).
func entriesMatch(want map[string]int, got map[string]string, files []*modelFile, torn bool) bool {
	if len(want) != len(got) {
		return false
	}
	for name, idx := range want {
		c, ok := got[name]
		if !ok || !contentAllowed(files[idx], c, torn) {
			return false
		}
	}
	return true
}

// contentAllowed reports whether c is a possible crash outcome for f.
func contentAllowed(f *modelFile, c string, torn bool) bool {
	if !torn {
		return c == f.states[0]
	}
	for i, s := range f.states {
		if c == s {
			return true
		}
		if i < len(f.writes) && f.writes[i] != nil {
			w := f.writes[i]
			for j := range len(w.data) {
				if c == string(applyWrite([]byte(s), w.data[:j], w.off)) {
					return true
				}
			}
		}
	}
	return false
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestMemFS_SyncEverythingLosesNothing: after syncing every file and
// folder, a crash (strict or torn) keeps the tree exactly.
func TestMemFS_SyncEverythingLosesNothing(t *testing.T) {
	m := NewMem()
	must(t, m.MkdirAll("/d/e", 0o755))
	var hs []File
	for i, p := range []string{"/d/a", "/d/e/b", "/c"} {
		f := mustOpen(t, m, p)
		_, _ = f.WriteAt([]byte(p), int64(i))
		hs = append(hs, f)
	}
	must(t, hs[0].Truncate(2))
	for _, h := range hs {
		must(t, h.Sync())
	}
	for _, d := range []string{"/", "/d", "/d/e"} {
		must(t, m.SyncDir(d))
	}
	want := treeOf(t, m, "/")
	for _, opts := range []CrashOptions{{}, {Rand: rand.New(rand.NewPCG(1, 2))}} {
		if got := treeOf(t, m.CrashClone(opts), "/"); !slices.Equal(got, want) {
			t.Fatalf("crash of a synced tree: %q, want %q", got, want)
		}
	}
}

// TestCrashCloneAll_OneInstant: a writer makes a value durable on one file
// system and then on another, so at any instant the first holds the
// second's value or one more. Clones taken together by CrashCloneAll keep
// that; a value past the first's would mean an operation fell between the
// clones.
func TestCrashCloneAll_OneInstant(t *testing.T) {
	a, b := NewMem(), NewMem()
	for _, m := range []*MemFS{a, b} {
		f := mustOpen(t, m, "/v")
		must(t, f.Sync())
		must(t, f.Close())
		must(t, m.SyncDir("/"))
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, m := range []*MemFS{a, b} {
				f, err := m.OpenFile("/v", os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					panic(err)
				}
				_, _ = f.Write([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
				_ = f.Sync()
				_ = f.Close()
			}
		}
	}()
	value := func(m FS) int {
		v, err := ReadFile(m, "/v")
		must(t, err)
		if len(v) == 0 {
			return 0
		}
		return int(v[0]) | int(v[1])<<8 | int(v[2])<<16
	}
	for range 200 {
		cs := CrashCloneAll(CrashOptions{}, a, b)
		va, vb := value(cs[0]), value(cs[1])
		if va != vb && va != vb+1 {
			close(stop)
			<-done
			t.Fatalf("clones taken together hold %d and %d", va, vb)
		}
	}
	close(stop)
	<-done
}
