//go:build !linux

package process

import "syscall"

// sysProcAttr puts a function in its own process group, run as cred (nil:
// our own user).
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}
