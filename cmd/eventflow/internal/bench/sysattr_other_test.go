//go:build !linux

package bench

import "syscall"

// platformAttr puts `eventflow dev` in its own process group, so a
// last-resort kill reaches its whole tree except functions.
func platformAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// helperAttr: no parent-death signal outside Linux.
func helperAttr() *syscall.SysProcAttr { return nil }
