package bench

import "syscall"

// platformAttr puts `eventflow dev` in its own process group, so a
// last-resort kill reaches its whole tree except functions (which the
// runtime puts in groups of their own), and has it sent SIGTERM (an
// orderly stop, functions included) if this process dies without stopping
// it, e.g. on a -timeout panic.
func platformAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// helperAttr makes a helper process die with this one.
func helperAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
