package process

import "syscall"

// sysProcAttr puts a function in its own process group (so a timeout kills
// its children too) and has the kernel kill it if EventFlow dies without
// stopping it (kill -9), so no function outlives the platform.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
