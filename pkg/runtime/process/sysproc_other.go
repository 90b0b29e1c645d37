//go:build !linux

package process

import (
	"io/fs"
	"os"
	"syscall"
)

// sysProcAttr puts a function in its own process group, run as cred (nil:
// our own user).
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// pipeFDs makes a pipe, both ends close-on-exec: [0] reads, [1] writes.
func pipeFDs() (fds [2]int, err error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := syscall.Pipe(fds[:]); err != nil {
		return fds, os.NewSyscallError("pipe", err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return fds, nil
}

// dirContents returns the mode of dir, which must be a directory (not a
// symbolic link), and the names in it.
func dirContents(dir string) (fs.FileMode, []string, error) { return dirContentsPortable(dir) }
