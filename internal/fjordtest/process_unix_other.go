//go:build unix && !linux

package fjordtest

import "syscall"

// sysProcAttr returns nil: only Linux can tie the broker's life to the test
// process; elsewhere t.Cleanup is the only guard.
func sysProcAttr() *syscall.SysProcAttr { return nil }
