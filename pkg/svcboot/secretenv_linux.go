package svcboot

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// ExecWithoutSecrets re-executes this program, once, when any of the
// secrets is in its environment or among its arguments: with them taken
// out of both and handed over through an inherited pipe instead, which
// TakeSecretEnv reads. The kernel keeps a process's environment and
// arguments as they were at exec in /proc/<pid>/environ (readable by every
// process of the same user, so by functions that run as this process's own
// user) and /proc/<pid>/cmdline (readable by every user), and neither
// os.Unsetenv nor anything else short of a new exec changes that. The pid
// stays the same.
//
// It returns nil when there is nothing to hide (also in the re-executed
// program), and otherwise only if the exec could not happen, with the
// reason: the secrets then stay visible there, and the program goes on.
// Call it first thing, before anything reads the secrets or starts a
// goroutine that matters.
func ExecWithoutSecrets(secrets ...Secret) error {
	if _, again := os.LookupEnv(secretsFDEnv); again {
		return nil
	}
	env, args, found := withoutSecrets(os.Environ(), os.Args[1:], secrets)
	if len(found) == 0 {
		return nil
	}
	payload := encodeSecrets(found)
	if len(payload) > maxHandedSecrets {
		return fmt.Errorf("secrets longer than %d bytes are not handed over", maxHandedSecrets)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = w.Write(payload) // fits the pipe's buffer: does not block
	w.Close()
	if err != nil {
		return err
	}
	fd := r.Fd()
	// Keep the read end open across the exec (os.Pipe sets close-on-exec).
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFD, 0); errno != 0 {
		return errno
	}
	env = append(env, secretsFDEnv+"="+strconv.FormatUint(uint64(fd), 10))
	argv := append([]string{os.Args[0]}, args...)
	err = syscall.Exec("/proc/self/exe", argv, env)
	return fmt.Errorf("re-exec without the secrets: %w", err)
}
