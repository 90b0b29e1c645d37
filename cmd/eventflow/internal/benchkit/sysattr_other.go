//go:build !linux

package benchkit

import "syscall"

// GroupAttr puts a process the benchmark starts in its own process group,
// so a last-resort kill of the group reaches its whole tree. There is no
// parent-death signal outside Linux.
func GroupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// HelperAttr: no parent-death signal outside Linux.
func HelperAttr() *syscall.SysProcAttr { return nil }
