package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/vfs"
)

// connPair returns the two ends of a loopback TCP connection, or of a
// net.Pipe (no socket: the copy path).
func connPair(t *testing.T, tcp bool) (server, client net.Conn) {
	t.Helper()
	if !tcp {
		server, client = net.Pipe()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if server = <-accepted; server == nil {
			t.Fatal("accept failed")
		}
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	deadline := time.Now().Add(20 * time.Second)
	_ = server.SetDeadline(deadline)
	_ = client.SetDeadline(deadline)
	return server, client
}

// TestConnWriter_Regions writes encoded bytes and file regions of every
// size class, in order, over TCP (sendfile) and a pipe (pread copy); the
// peer must read exactly the concatenation.
func TestConnWriter_Regions(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	path := filepath.Join(t.TempDir(), "seg.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	regions := []log.FileSlice{
		{File: f, Pos: 0, Len: 1},
		{File: f, Pos: 10, Len: sendfileMinBytes - 1},
		{File: f, Pos: 5, Len: sendfileMinBytes},
		{File: f, Pos: 1000, Len: 200 << 10}, // above the write buffer
		{File: f, Pos: 1 << 20, Len: 2 << 20},
		{File: f, Pos: 3<<20 - 100, Len: 100},
	}
	var want bytes.Buffer
	for i, r := range regions {
		want.WriteString("header")
		want.WriteByte(byte(i))
		want.Write(data[r.Pos : r.Pos+r.Len])
	}
	want.WriteString("trailer")
	for _, tcp := range []bool{true, false} {
		name := "pipe"
		if tcp {
			name = "tcp"
		}
		t.Run(name, func(t *testing.T) {
			srv, cli := connPair(t, tcp)
			w := newConnWriter(srv)
			if (w.raw != nil) != (tcp && sendfileSupported) {
				t.Fatalf("sendfile chosen %v for tcp=%v", w.raw != nil, tcp)
			}
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(cli, int64(want.Len())))
				got <- b
			}()
			for i, r := range regions {
				if _, err := w.bw.Write(append([]byte("header"), byte(i))); err != nil {
					t.Fatal(err)
				}
				if err := w.sendRegion(r); err != nil {
					t.Fatalf("region %d: %v", i, err)
				}
			}
			if _, err := w.bw.WriteString("trailer"); err != nil {
				t.Fatal(err)
			}
			if err := w.bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if b := <-got; !bytes.Equal(b, want.Bytes()) {
				t.Fatalf("peer read %d bytes, want %d (equal: false)", len(b), want.Len())
			}
		})
	}
}

// TestConnWriter_ShortFile: a region past the end of its file (a
// truncation raced with the send) is errFileShort on both paths, never a
// silent short frame.
func TestConnWriter_ShortFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg.log")
	if err := os.WriteFile(path, make([]byte, 100<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tcp := range []bool{true, false} {
		srv, cli := connPair(t, tcp)
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		w := newConnWriter(srv)
		err := w.sendRegion(log.FileSlice{File: f, Pos: 60 << 10, Len: 50 << 10})
		if !errors.Is(err, errFileShort) {
			t.Fatalf("tcp=%v: region past the end: %v", tcp, err)
		}
	}
}

// TestConnWriter_MemFile: a region of a file that is not an OS file (a
// vfs.MemFS segment) goes out through the pread copy path even on a TCP
// connection that can sendfile, byte for byte.
func TestConnWriter_MemFile(t *testing.T) {
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 11 / 3)
	}
	mem := vfs.NewMem()
	f, err := mem.OpenFile("/seg.log", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	regions := []log.FileSlice{
		{File: f, Pos: 3, Len: sendfileMinBytes},
		{File: f, Pos: 1 << 10, Len: 200 << 10},
	}
	var want bytes.Buffer
	for _, r := range regions {
		want.Write(data[r.Pos : r.Pos+r.Len])
	}
	srv, cli := connPair(t, true)
	w := newConnWriter(srv)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(cli, int64(want.Len())))
		got <- b
	}()
	for i, r := range regions {
		if err := w.sendRegion(r); err != nil {
			t.Fatalf("region %d: %v", i, err)
		}
	}
	if err := w.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("peer read %d bytes, want %d (equal: false)", len(b), want.Len())
	}
	if (w.raw != nil) != sendfileSupported {
		t.Fatal("a MemFS file turned sendfile off for the connection")
	}
}
