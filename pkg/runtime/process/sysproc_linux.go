package process

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// sysProcAttr puts a function in its own process group (so stopping it or a
// timeout signals its children too), runs it as cred (nil: our own user)
// and has the kernel kill it if EventFlow dies without stopping it
// (kill -9), so no function outlives the platform.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
}

// pipeFDs makes a pipe, both ends close-on-exec: [0] reads, [1] writes.
func pipeFDs() (fds [2]int, err error) {
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return fds, os.NewSyscallError("pipe2", err)
	}
	return fds, nil
}

// dirContents returns the mode of dir, which must be a directory (not a
// symbolic link), and the names in it. Raw system calls: it runs after
// every job run, on a directory that is empty most of the time (open,
// fstat, two getdents, close).
func dirContents(dir string) (fs.FileMode, []string, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		if err == syscall.ELOOP || err == syscall.ENOTDIR {
			return 0, nil, fmt.Errorf("%s is no longer a directory", dir)
		}
		return 0, nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, nil, &os.PathError{Op: "fstat", Path: dir, Err: err}
	}
	mode := fs.FileMode(st.Mode & 0o777)
	if st.Mode&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if st.Mode&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	var names []string
	var buf [4096]byte
	for {
		n, err := syscall.ReadDirent(fd, buf[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return mode, names, nil
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names) // without . and ..
	}
}
