package process

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// User is the uid and gid functions run as.
type User struct {
	UID, GID uint32
}

// DefaultUser is who functions run as when the platform runs as root and
// Config.User is nil: nobody/nogroup on Debian and Ubuntu (and distroless),
// an unprivileged id that owns no files.
var DefaultUser = User{UID: 65534, GID: 65534}

func (u User) String() string { return fmt.Sprintf("%d:%d", u.UID, u.GID) }

// ParseUser reads a function user as --function-user takes it: a user name
// or uid, optionally followed by ":" and a group name or gid. Without a
// group it is the user's primary group (for a uid without a passwd entry,
// the gid equal to the uid).
func ParseUser(s string) (User, error) {
	name, group, hasGroup := strings.Cut(strings.TrimSpace(s), ":")
	if name == "" || (hasGroup && group == "") {
		return User{}, fmt.Errorf("function user %q: want a user name or uid, optionally :group", s)
	}
	var u User
	var primary string // the user's primary gid, if known
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		u.UID = uint32(n)
		primary = name
		if pw, err := user.LookupId(name); err == nil {
			primary = pw.Gid
		}
	} else {
		pw, err := user.Lookup(name)
		if err != nil {
			return User{}, fmt.Errorf("function user %q: %w", s, err)
		}
		n, err := strconv.ParseUint(pw.Uid, 10, 32)
		if err != nil {
			return User{}, fmt.Errorf("function user %q: uid %q is not a number", s, pw.Uid)
		}
		u.UID, primary = uint32(n), pw.Gid
	}
	if !hasGroup {
		group = primary
	}
	if n, err := strconv.ParseUint(group, 10, 32); err == nil {
		u.GID = uint32(n)
		return u, nil
	}
	gr, err := user.LookupGroup(group)
	if err != nil {
		return User{}, fmt.Errorf("function user %q: %w", s, err)
	}
	n, err := strconv.ParseUint(gr.Gid, 10, 32)
	if err != nil {
		return User{}, fmt.Errorf("function user %q: gid %q is not a number", s, gr.Gid)
	}
	u.GID = uint32(n)
	return u, nil
}

// identity is who this runtime's functions run as.
type identity struct {
	User
	// cred switches a function to User; nil when User is this process's own
	// user (functions then share its uid: the weaker mode).
	cred *syscall.Credential
}

// newIdentity resolves Config.User: nil means DefaultUser when this process
// runs as root, else this process's own user.
func newIdentity(u *User) identity {
	self := User{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	if u == nil {
		if self.UID != 0 {
			return identity{User: self}
		}
		u = &DefaultUser
	}
	if *u == self {
		return identity{User: self}
	}
	// Groups empty: setgroups drops every supplementary group of ours
	// (root's group 0 included).
	return identity{User: *u, cred: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}}
}

// separate reports whether functions run under another uid than this
// process.
func (id identity) separate() bool { return id.cred != nil }

// checkExec says why the function user could not run the executable at
// path, or nil: every directory above it must be searchable and the file
// executable (a script also readable, for its interpreter) by that user, as
// the mode bits say (ACLs are not read). Functions under this process's own
// user, and root, are not checked beyond the executable bit resolve already
// requires.
func (id identity) checkExec(path string) error {
	if !id.separate() || id.UID == 0 {
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	// From the root down, as the kernel walks the path.
	var dirs []string
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		dirs = append(dirs, dir)
		if dir == filepath.Dir(dir) {
			break
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		fi, err := os.Stat(dirs[i])
		if err != nil {
			return err
		}
		if !id.may(fi, 1) {
			return id.denied(path, dirs[i]+" is not searchable", fi)
		}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	if !id.may(fi, 1) {
		return id.denied(path, "it is not executable", fi)
	}
	if isScript(real) && !id.may(fi, 4) {
		return id.denied(path, "it is a script and not readable", fi)
	}
	return nil
}

// may reports whether the mode bits of fi grant bits (4 read, 1 execute or
// search) to the function user, as the kernel picks them: owner, else
// group, else others.
func (id identity) may(fi fs.FileInfo, bits fs.FileMode) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // cannot tell; exec will
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == id.UID:
		perm >>= 6
	case st.Gid == id.GID:
		perm >>= 3
	}
	return perm&bits == bits
}

func (id identity) denied(path, why string, fi fs.FileInfo) error {
	owner := ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
	}
	return fmt.Errorf("command %q cannot be run by the function user %s: %s (%s%s); make it and every directory above it readable and executable by that user",
		path, id.User, why, fi.Mode(), owner)
}

// isScript reports whether the file starts with #!.
func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	n, _ := f.Read(b)
	return bytes.Equal(b[:n], []byte("#!"))
}

// explainStart makes a failed start of path say whose permissions were
// missing.
func (id identity) explainStart(path string, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES) && id.separate():
		return fmt.Errorf("%w (the function runs as %s: it must be able to execute %s and search every directory above it)", err, id.User, path)
	case errors.Is(err, syscall.EPERM) && id.separate():
		return fmt.Errorf("%w (this process, uid %d, may not switch functions to %s: run it as root or choose its own user as the function user)", err, os.Geteuid(), id.User)
	}
	return err
}
