package fjordtest

import "syscall"

// sysProcAttr asks the kernel to SIGKILL the broker if the test process dies
// first (a panic or `go test -timeout`), so no broker outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
