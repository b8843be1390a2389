package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/vfs"
)

// sendfileMinBytes: record sets smaller than this are copied into the
// write buffer with pread rather than sent with sendfile, which would cost
// a flush of the buffer (one more write and packet) for little saved
// copying.
const sendfileMinBytes = 16 << 10

// errFileShort: a pinned segment file holds fewer bytes than the region
// read from it; a truncation cut it while the response was being sent.
var errFileShort = errors.New("segment file shorter than the pinned region")

// connWriter is the write side of one connection, owned by its writeLoop:
// a buffered writer for encoded responses and, for TCP on Linux, the raw
// socket to sendfile record sets to.
type connWriter struct {
	bw  *bufio.Writer
	raw syscall.RawConn // nil: copy record sets (not a socket, or sendfile refused)
}

func newConnWriter(nc net.Conn) *connWriter {
	w := &connWriter{bw: bufio.NewWriterSize(nc, 64<<10)}
	if sc, ok := nc.(syscall.Conn); ok && sendfileSupported {
		if rc, err := sc.SyscallConn(); err == nil {
			w.raw = rc
		}
	}
	return w
}

// sendRegion writes a file region after what is buffered: with sendfile
// (buffer flushed first, bytes never enter user space) when it can, else
// with pread into the write buffer. Only a file of the operating system's
// FS can be sent with sendfile; others (vfs.MemFS in tests) are copied.
// The connection's write deadline bounds both.
func (w *connWriter) sendRegion(sl log.FileSlice) error {
	off, n := sl.Pos, sl.Len
	if f := vfs.OSFile(sl.File); f != nil && w.raw != nil && n >= sendfileMinBytes {
		if err := w.bw.Flush(); err != nil {
			return err
		}
		sent, err := sendfile(w.raw, f, off, n)
		off, n = off+sent, n-sent
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errSendfileUnsupported):
			// This file system or socket cannot: copy, now and for
			// the rest of the connection.
			w.raw = nil
		default:
			return err
		}
	}
	return w.copyRegion(sl.File, off, n)
}

// copyRegion preads the region straight into the free part of the write
// buffer, flushing when it is full.
func (w *connWriter) copyRegion(f io.ReaderAt, off, n int64) error {
	for n > 0 {
		if w.bw.Available() == 0 {
			if err := w.bw.Flush(); err != nil {
				return err
			}
		}
		buf := w.bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), n)]
		m, err := f.ReadAt(buf, off)
		if m > 0 {
			if _, werr := w.bw.Write(buf[:m]); werr != nil {
				return werr
			}
			off, n = off+int64(m), n-int64(m)
		}
		if m < len(buf) {
			if err == nil || errors.Is(err, io.EOF) {
				err = errFileShort
			}
			return fmt.Errorf("read %d bytes at %d: %w", len(buf), off, err)
		}
	}
	return nil
}
