//go:build !linux

package server

import (
	"errors"
	"os"
	"syscall"
)

// sendfileSupported: sendfile is used on Linux only; elsewhere record sets
// are copied with pread.
const sendfileSupported = false

var errSendfileUnsupported = errors.New("sendfile not supported here")

func sendfile(syscall.RawConn, *os.File, int64, int64) (int64, error) {
	return 0, errSendfileUnsupported
}
