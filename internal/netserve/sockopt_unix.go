//go:build unix

package netserve

import "syscall"

// fileLimit is the soft RLIMIT_NOFILE.
func fileLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return r.Cur, true
}

// setBuffers sets SO_SNDBUF and SO_RCVBUF of a socket; sizes <= 0 are left
// as they are.
func setBuffers(rc syscall.RawConn, send, recv int) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if send > 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, send)
		}
		if serr == nil && recv > 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, recv)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
