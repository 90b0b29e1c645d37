package packaging

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// The bus authentication under compose: the volume holding the bundle
// `eventflow nats-auth init` makes, the one-shot service making a new one
// and the one keeping the bundle already there (or installing the new).
const (
	natsAuthVolume = "nats-auth"
	natsAuthNew    = "nats-auth-new"
	natsAuthKeep   = "nats-auth"
)

// natsAuthMount is where a compose service mounts the nats-auth volume.
func natsAuthMount(s types.ServiceConfig) (types.ServiceVolumeConfig, bool) {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == natsAuthVolume {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

func dependsOn(t *testing.T, s types.ServiceConfig, on, condition string) {
	t.Helper()
	if d, ok := s.DependsOn[on]; !ok || d.Condition != condition {
		t.Errorf("%s: depends_on %s %+v, want condition %s", s.Name, on, d, condition)
	}
}

// checkComposeNATSAuth: the bundle is made before NATS starts, by the
// eventflow image into a volume that image's user owns (so the services,
// the same user, can read their 0600 credentials); NATS is configured by
// its auth.conf; every service gets NATS_CREDS to its own credentials on a
// read-only mount of that volume.
func checkComposeNATSAuth(t *testing.T, p *types.Project) {
	if _, ok := p.Volumes[natsAuthVolume]; !ok {
		t.Errorf("volume %s is not declared", natsAuthVolume)
	}
	gen := service(t, p, natsAuthNew)
	if im := imageOf(t, gen); im.name != "eventflow" {
		t.Errorf("%s is built from %s, want the eventflow image (it runs eventflow nats-auth init)", gen.Name, im.dockerfile)
	}
	checkHardened(t, gen)
	cmd := []string(gen.Command)
	genMount, ok := natsAuthMount(gen)
	if len(cmd) != 4 || !slices.Equal(cmd[:3], []string{"nats-auth", "init", "--dir"}) || !ok || !strings.HasPrefix(cmd[3], genMount.Target+"/") {
		t.Fatalf("%s: command %v, mount %+v: want nats-auth init --dir <a directory in the %s volume>", gen.Name, cmd, genMount, natsAuthVolume)
	}
	// A new volume takes the owner of the image's directory it is first
	// mounted on: the one the eventflow image's final stage copies with
	// --chown to the user every service runs as.
	owned := false
	for _, c := range resolvedDockerfile(t, imageOf(t, gen)).final().Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && path.Clean(cp.DestPath) == genMount.Target && cp.Chown == gen.User {
			owned = true
		}
	}
	if !owned {
		t.Errorf("%s mounts the volume at %s, which the eventflow image does not own as %s: the bundle's files would be root's", gen.Name, genMount.Target, gen.User)
	}
	if gen.Restart != "" && gen.Restart != types.RestartPolicyNo {
		t.Errorf("%s: restart %q: a one-shot", gen.Name, gen.Restart)
	}

	keep := service(t, p, natsAuthKeep)
	checkHardened(t, keep)
	dependsOn(t, keep, natsAuthNew, types.ServiceConditionCompletedSuccessfully)
	if keep.User != gen.User {
		t.Errorf("%s runs as %q, %s as %q: it could not move the bundle", keep.Name, keep.User, gen.Name, gen.User)
	}
	if _, ok := natsAuthMount(keep); !ok {
		t.Errorf("%s does not mount the %s volume", keep.Name, natsAuthVolume)
	}

	nats := service(t, p, "nats")
	dependsOn(t, nats, natsAuthKeep, types.ServiceConditionCompletedSuccessfully)
	if keep.Image != nats.Image {
		t.Errorf("%s uses image %s, NATS %s: one image less to pull", keep.Name, keep.Image, nats.Image)
	}
	m, ok := natsAuthMount(nats)
	if conf := argAfter(nats.Command, "-c"); !ok || !m.ReadOnly || conf != m.Target+"/secret/auth.conf" {
		t.Errorf("nats: -c %q, mount %+v: want its configuration the bundle's secret/auth.conf on a read-only mount", conf, m)
	}

	for _, name := range eventflowServices {
		s := service(t, p, name)
		m, ok := natsAuthMount(s)
		if !ok || !m.ReadOnly {
			t.Errorf("%s: mount %+v: want the %s volume read-only", name, m, natsAuthVolume)
			continue
		}
		if want := m.Target + "/secret/" + name + ".creds"; env(s, "NATS_CREDS") != want {
			t.Errorf("%s: NATS_CREDS=%q, want %s", name, env(s, "NATS_CREDS"), want)
		}
		if s.User != gen.User {
			t.Errorf("%s runs as %q, the bundle belongs to %q: its credentials (0600) are unreadable", name, s.User, gen.User)
		}
	}
}

// composeNATSAuth runs the bus authentication's one-shot services as a
// `docker compose up` does, in their dependency order, with the nats-auth
// volume a temporary directory: nats-auth-new is the eventflow binary with
// its compose command, nats-auth its shell script (entrypoint /bin/sh, the
// host's sh standing in for busybox). It runs them twice, as a second `up`
// does, and the bundle of the first must stay. It returns the volume's
// directory.
func composeNATSAuth(t *testing.T, p *types.Project, bins string) string {
	t.Helper()
	dir := t.TempDir()
	run := func(s types.ServiceConfig, bin string, args []string) {
		t.Helper()
		m, ok := natsAuthMount(s)
		if !ok {
			t.Fatalf("%s does not mount the %s volume", s.Name, natsAuthVolume)
		}
		rw := rewriter{}
		rw.add(m.Target+"/", dir+"/")
		for i := range args {
			args[i] = rw.apply(t, s.Name+" command", args[i])
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", s.Name, err, out)
		}
	}
	gen, keep := service(t, p, natsAuthNew), service(t, p, natsAuthKeep)
	up := func() {
		t.Helper()
		run(gen, filepath.Join(bins, imageOf(t, gen).name), slices.Clone([]string(gen.Command)))
		ep := []string(keep.Entrypoint)
		if len(ep) < 2 || ep[0] != "/bin/sh" {
			t.Fatalf("%s: entrypoint %v, want /bin/sh and its flags", keep.Name, ep)
		}
		run(keep, "sh", append(slices.Clone(ep[1:]), keep.Command...))
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "secret", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	up()
	first := read("auth.conf") + read("gateway.creds")
	up()
	if read("auth.conf")+read("gateway.creds") != first {
		t.Error("a second up replaced the bundle: every credential in use would stop working")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"keys", "secret"}) {
		t.Errorf("the %s volume holds %v, want keys and secret only", natsAuthVolume, names)
	}
	// NATS runs as root without capabilities: "other" must be able to
	// reach and read auth.conf (public JWTs), and nothing else.
	for f, want := range map[string]os.FileMode{"keys": 0o700, "secret": 0o711, "secret/auth.conf": 0o644, "secret/deployer.creds": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %#o, want %#o", f, got, want)
		}
	}
	return dir
}

// natsRefusesAnonymous speaks the NATS protocol to addr: the server's INFO
// must require authentication, and a CONNECT without credentials must be
// answered with an authorization violation.
func natsRefusesAnonymous(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("nats INFO: %v", err)
	}
	if !strings.HasPrefix(info, "INFO ") || !strings.Contains(info, `"auth_required":true`) {
		t.Errorf("nats does not require authentication: %s", info)
	}
	if _, err := conn.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	reply, _ := r.ReadString('\n')
	if !strings.Contains(reply, "Authorization Violation") {
		t.Errorf("nats answers a client without credentials %q, want an authorization violation", reply)
	}
}
