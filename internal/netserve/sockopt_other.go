//go:build !unix

package netserve

import "syscall"

// fileLimit is unknown off Unix.
func fileLimit() (uint64, bool) { return 0, false }

// setBuffers leaves the sizes to the OS off Unix.
func setBuffers(rc syscall.RawConn, send, recv int) error { return nil }
