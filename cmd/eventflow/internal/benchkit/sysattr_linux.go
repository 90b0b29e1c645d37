package benchkit

import "syscall"

// GroupAttr puts a process the benchmark starts in its own process group,
// so a last-resort kill of the group reaches its whole tree (except
// children that make groups of their own, such as `eventflow dev`'s
// function processes), and has the kernel send it SIGTERM, an orderly stop,
// if the benchmark dies without stopping it (e.g. on a -timeout panic).
func GroupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// HelperAttr makes a throwaway helper process (one that needs no orderly
// stop) die with the benchmark.
func HelperAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
