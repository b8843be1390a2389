package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// errClass reduces an error to what callers branch on, so that MemFS and
// the OS can be compared.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, fs.ErrNotExist):
		return "not-exist"
	case errors.Is(err, fs.ErrExist):
		return "exist"
	case errors.Is(err, fs.ErrClosed):
		return "closed"
	default:
		return "error"
	}
}

// TestMemFS_MatchesOS runs the same random operations on MemFS and on the
// real file system and compares every result, error class and the final
// tree: MemFS must behave as package os does for what the log uses.
func TestMemFS_MatchesOS(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	osRoot := t.TempDir()
	fss := []FS{OS(), NewMem()}
	roots := []string{osRoot, "/data"}
	for i, f := range fss {
		if err := f.MkdirAll(roots[i], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"a", "b", "d/a", "d/c", "d", "e/f"}
	handles := make([][]File, len(fss)) // same index = same open call
	defer func() {
		for _, hs := range handles {
			for _, h := range hs {
				h.Close()
			}
		}
	}()
	for step := range 2000 {
		name := names[rng.IntN(len(names))]
		other := names[rng.IntN(len(names))]
		flags := []int{os.O_RDONLY, os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_CREATE | os.O_TRUNC, os.O_RDWR | os.O_CREATE | os.O_EXCL, os.O_WRONLY | os.O_APPEND | os.O_CREATE}
		flag := flags[rng.IntN(len(flags))]
		data := bytes.Repeat([]byte{byte(step)}, rng.IntN(20))
		off := int64(rng.IntN(40))
		readLen := rng.IntN(30)
		h := -1
		if len(handles[0]) > 0 {
			h = rng.IntN(len(handles[0]))
		}
		op := rng.IntN(13)
		var got []string
		for i, f := range fss {
			p := filepath.Join(roots[i], name)
			q := filepath.Join(roots[i], other)
			var res string
			switch op {
			case 0:
				fh, err := f.OpenFile(p, flag, 0o644)
				if err == nil {
					handles[i] = append(handles[i], fh)
				}
				res = errClass(err)
			case 1:
				res = errClass(f.Remove(p))
			case 2:
				res = errClass(f.Rename(p, q))
			case 3:
				res = errClass(f.MkdirAll(p, 0o755))
			case 4:
				b, err := ReadFile(f, p)
				res = fmt.Sprintf("%s %q", errClass(err), b)
			case 5:
				st, err := f.Stat(p)
				if err == nil {
					res = fmt.Sprintf("%s %v %d", st.Name(), st.IsDir(), map[bool]int64{true: 0, false: st.Size()}[st.IsDir()])
				}
				res = errClass(err) + " " + res
			case 6:
				es, err := f.ReadDir(filepath.Dir(p))
				res = errClass(err)
				for _, e := range es {
					res += " " + e.Name() + fmt.Sprint(e.IsDir())
				}
			case 7, 8, 9, 10, 11, 12:
				if h < 0 {
					continue
				}
				fh := handles[i][h]
				switch op {
				case 7:
					n, err := fh.WriteAt(data, off)
					res = fmt.Sprintf("%s %d", errClass(err), n)
				case 8:
					n, err := fh.Write(data)
					res = fmt.Sprintf("%s %d", errClass(err), n)
				case 9:
					b := make([]byte, readLen)
					n, err := fh.ReadAt(b, off)
					res = fmt.Sprintf("%v %d %q", err == io.EOF, n, b[:n])
				case 10:
					res = errClass(fh.Truncate(off))
				case 11:
					res = errClass(fh.Sync())
				case 12:
					res = errClass(fh.Close())
				}
			}
			got = append(got, res)
		}
		if len(got) == 2 && got[0] != got[1] {
			// Opening the OS file of a folder read-only works (MemFS
			// refuses it); such handles are never written to in this
			// test's comparisons of contents, so accept that one case.
			if op == 0 && got[0] == "ok" && got[1] == "error" {
				if st, err := os.Stat(filepath.Join(osRoot, name)); err == nil && st.IsDir() {
					handles[0][len(handles[0])-1].Close()
					handles[0] = handles[0][:len(handles[0])-1]
					continue
				}
			}
			t.Fatalf("step %d op %d name %s other %s flag %#x: os %q, mem %q", step, op, name, other, flag, got[0], got[1])
		}
	}
	if a, b := treeOf(t, fss[0], roots[0]), treeOf(t, fss[1], roots[1]); !slices.Equal(a, b) {
		t.Fatalf("trees differ:\nos  %q\nmem %q", a, b)
	}
}

// treeOf lists the files below root with their contents.
func treeOf(t *testing.T, f FS, root string) []string {
	t.Helper()
	var out []string
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		es, err := f.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.IsDir() {
				out = append(out, rel+e.Name()+"/")
				walk(filepath.Join(dir, e.Name()), rel+e.Name()+"/")
				continue
			}
			b, err := ReadFile(f, filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s%s=%q", rel, e.Name(), b))
		}
	}
	walk(root, "")
	return out
}

// TestMemFS_HandlesOutliveNames: as on POSIX, an open file stays readable
// and writable after it is removed or renamed, and a new file of the same
// name is a different file.
func TestMemFS_HandlesOutliveNames(t *testing.T) {
	m := NewMem()
	f, err := m.OpenFile("/x", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/x"); err != nil {
		t.Fatal(err)
	}
	g, err := m.OpenFile("/x", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write([]byte("new!")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "old" {
		t.Fatalf("removed file reads %q, %v", b, err)
	}
	if got, _ := ReadFile(m, "x"); string(got) != "new!" {
		t.Fatalf("new file holds %q", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Sync after Close: %v, want ErrClosed", err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if OSFile(g) != nil {
		t.Fatal("a MemFS file claims to be an OS file")
	}
}

// TestOS_OSFile: the OS FS hands back its *os.File (for sendfile), syncs
// folders and reads files.
func TestOS_OSFile(t *testing.T) {
	dir := t.TempDir()
	fsys := OS()
	f, err := fsys.OpenFile(filepath.Join(dir, "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if OSFile(f) == nil || OSFile(OSFile(f)) != OSFile(f) {
		t.Fatal("OS file has no *os.File")
	}
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SyncDir of a missing folder: %v", err)
	}
	if b, err := ReadFile(fsys, filepath.Join(dir, "f")); err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile: %q, %v", b, err)
	}
}

// TestOS_WrapAllocatesNothing: the OS wrapper is one pointer, so turning
// an *os.File into a File must not allocate (the log relies on it to keep
// its hot paths as they were).
func TestOS_WrapAllocatesNothing(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sink File
	if n := testing.AllocsPerRun(100, func() { sink = osFile{f} }); n != 0 {
		t.Fatalf("%v allocations per wrap", n)
	}
	_ = sink
}
