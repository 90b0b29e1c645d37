package process

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// maxFreeDirs bounds how many emptied job directories wait for reuse.
const maxFreeDirs = 64

// dirPool keeps the working directories of finished job runs, emptied, for
// the next runs: making and removing a directory per run is a journaled
// write on most filesystems, and under load (JetStream syncing to the same
// disk) it made a stream of short jobs three times slower. Emptying a
// directory that is already empty only reads it.
type dirPool struct {
	mu   sync.Mutex
	free []string
}

// runDirPrefix starts the name of a temporary RunDir, followed by the pid
// of the process that made it: a runtime removes those its user's processes
// left when they died without Close (kill -9).
const runDirPrefix = "eventflow-functions-"

// baseDir is RunDir, made on first use: mode 0711, so a function can reach
// its own directory inside but cannot list the others'.
func (r *Runtime) baseDir() (string, error) {
	r.runDirOnce.Do(func() {
		dir := r.cfg.RunDir
		if dir == "" {
			r.sweepRunDirs()
			d, err := os.MkdirTemp("", runDirPrefix+strconv.Itoa(os.Getpid())+"-")
			if err != nil {
				r.runDirErr = fmt.Errorf("functions' run dir: %w", err)
				return
			}
			dir, r.ownRunDir = d, true
		} else if err := os.MkdirAll(dir, 0o711); err != nil {
			r.runDirErr = fmt.Errorf("functions' run dir: %w", err)
			return
		}
		if err := os.Chmod(dir, 0o711); err != nil {
			r.runDirErr = fmt.Errorf("functions' run dir: %w", err)
			return
		}
		if !r.ownRunDir {
			r.sweepSecretsDirs(dir)
		}
		r.runDir = dir
	})
	return r.runDir, r.runDirErr
}

// sweepRunDirs removes the temporary RunDirs of processes that are gone,
// if this user made them. (A process in another pid namespace sharing this
// temporary directory would look gone: do not share one between
// containers.)
func (r *Runtime) sweepRunDirs() {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), runDirPrefix)
		if !ok || !e.IsDir() { // IsDir is false for a symbolic link
			continue
		}
		s, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // not ours, ours, or its process runs
		}
		path := filepath.Join(os.TempDir(), e.Name())
		fi, err := os.Lstat(path)
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
			continue
		}
		r.removeDir(path)
	}
}

// privateDir makes a new working directory for one job run or instance:
// mode 0700, owned by the function user, so other local users cannot read
// it (functions under the same uid could, but its name is random and RunDir
// cannot be listed). prefix starts its name, for whoever looks.
func (r *Runtime) privateDir(prefix string) (string, error) {
	base, err := r.baseDir()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(base, prefix) // mode 0700
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	if r.id.separate() {
		if err := os.Chown(dir, int(r.id.UID), int(r.id.GID)); err != nil {
			_ = os.Remove(dir)
			return "", fmt.Errorf("working directory: %w", err)
		}
	}
	return dir, nil
}

// jobDir is a working directory for one job run: an emptied one of an
// earlier run, or a new one.
func (r *Runtime) jobDir() (string, error) {
	r.dirs.mu.Lock()
	if n := len(r.dirs.free); n > 0 {
		dir := r.dirs.free[n-1]
		r.dirs.free = r.dirs.free[:n-1]
		r.dirs.mu.Unlock()
		return dir, nil
	}
	r.dirs.mu.Unlock()
	return r.privateDir("run-")
}

// releaseJobDir empties dir, whose run has ended (its processes are gone),
// and keeps it for another run; a directory that cannot be made as new again
// is removed instead.
func (r *Runtime) releaseJobDir(dir string) {
	if err := emptyDir(dir); err == nil {
		r.dirs.mu.Lock()
		if len(r.dirs.free) < maxFreeDirs {
			r.dirs.free = append(r.dirs.free, dir)
			r.dirs.mu.Unlock()
			return
		}
		r.dirs.mu.Unlock()
	}
	r.removeDir(dir)
}

// emptyDir removes everything in dir and gives it mode 0700 again (its
// owner, the function user, may have changed it). dir itself must still be
// a directory: its parent is RunDir, where a function cannot rename or
// replace anything unless it runs as this process's own user.
func emptyDir(dir string) error {
	mode, names, err := dirContents(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := forceRemoveAll(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	if mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// dirContentsPortable is dirContents with os calls.
func dirContentsPortable(dir string) (fs.FileMode, []string, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return 0, nil, err
	}
	if !fi.IsDir() {
		return 0, nil, fmt.Errorf("%s is no longer a directory", dir)
	}
	names, err := readDirNames(dir)
	return fi.Mode(), names, err
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeDir removes a run's or an instance's working directory once its
// processes are gone.
func (r *Runtime) removeDir(dir string) {
	if dir == "" {
		return
	}
	if err := forceRemoveAll(dir); err != nil {
		r.log.Warn("remove a function's working directory", "dir", dir, "err", err)
	}
}

// forceRemoveAll is os.RemoveAll, also of directories a function made
// unwritable: root ignores their mode, but a function running as this
// process's own user can lock this process out until it restores the
// directories' modes (as their owner, it may).
func forceRemoveAll(path string) error {
	if err := os.RemoveAll(path); err == nil {
		return nil
	}
	// WalkDir visits a directory before reading it, so a directory the
	// chmod opens is then read; symbolic links are not followed.
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}

// removeRunDir removes the kept job directories, and RunDir if this runtime
// made it.
func (r *Runtime) removeRunDir() {
	r.runDirOnce.Do(func() {}) // none made from now on
	r.dirs.mu.Lock()
	free := r.dirs.free
	r.dirs.free = nil
	r.dirs.mu.Unlock()
	for _, dir := range free {
		r.removeDir(dir)
	}
	if r.ownRunDir && r.runDir != "" {
		r.removeDir(r.runDir)
	}
}
