package process

import "syscall"

// sysProcAttr puts a function in its own process group (so stopping it or a
// timeout signals its children too), runs it as cred (nil: our own user)
// and has the kernel kill it if EventFlow dies without stopping it
// (kill -9), so no function outlives the platform.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
}
