package server

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// sendfileSupported: Linux has sendfile(2) from a file to a socket, with an
// explicit offset that leaves the shared file's position alone.
const sendfileSupported = true

// errSendfileUnsupported: the kernel refused sendfile for this file and
// socket (EINVAL, ENOSYS, EOPNOTSUPP); the caller copies instead.
var errSendfileUnsupported = errors.New("sendfile not supported here")

// maxSendfileChunk stays below Linux's per-call limit (0x7ffff000 bytes).
const maxSendfileChunk = 1 << 30

// sendfile sends n bytes of f from off to the socket behind raw and
// returns how many it sent. EAGAIN hands the wait to the Go netpoller
// (RawConn.Write returns to it when the callback reports false), which
// honours the connection's write deadline; partial writes loop. f is
// pinned by the caller, and Control keeps it from being closed during
// the call.
func sendfile(raw syscall.RawConn, f *os.File, off, n int64) (int64, error) {
	frc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errSendfileUnsupported, err)
	}
	var sent int64
	var serr error
	cerr := frc.Control(func(infd uintptr) {
		werr := raw.Write(func(outfd uintptr) bool {
			for sent < n {
				pos := off + sent
				w, err := syscall.Sendfile(int(outfd), int(infd), &pos, int(min(n-sent, maxSendfileChunk)))
				if w > 0 {
					sent += int64(w)
				}
				switch {
				case errors.Is(err, syscall.EINTR):
				case errors.Is(err, syscall.EAGAIN):
					return false // wait until the socket is writable
				case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EOPNOTSUPP):
					serr = fmt.Errorf("%w: %w", errSendfileUnsupported, err)
					return true
				case err != nil:
					serr = fmt.Errorf("sendfile: %w", err)
					return true
				case w == 0:
					serr = fmt.Errorf("sendfile at %d: %w", pos, errFileShort)
					return true
				}
			}
			return true
		})
		if serr == nil && werr != nil {
			serr = werr
		}
	})
	if serr == nil && cerr != nil {
		serr = cerr
	}
	return sent, serr
}
