//go:build !linux

package process

import "syscall"

// sysProcAttr puts a function in its own process group.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
