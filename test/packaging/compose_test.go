package packaging

import (
	"context"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// eventflowServices are the compose services built from EventFlow's
// images; the all-in-one is in the all-in-one profile.
var eventflowServices = []string{"gateway", "deployer", "invoker", "logstream"}

// loadCompose loads docker-compose.yaml with compose-go, the loader
// docker compose itself uses, with env as the only environment (no .env,
// not the test's own environment), so the file's defaults are what is
// checked.
func loadCompose(t *testing.T, env []string, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yaml")},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("load docker-compose.yaml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yaml has no service %q (services: %v)", name, p.ServiceNames())
	}
	return s
}

func env(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

// imageOf is the EventFlow image a compose service is built from.
func imageOf(t *testing.T, s types.ServiceConfig) image {
	t.Helper()
	if s.Build == nil {
		t.Fatalf("service %s has no build", s.Name)
	}
	if filepath.Clean(s.Build.Context) != repoRoot {
		t.Errorf("service %s: build context %s, want the repository root", s.Name, s.Build.Context)
	}
	if s.Build.Target != "" {
		t.Errorf("service %s: build target %s: the images are chosen by build argument (the Dockerfile's last stage)", s.Name, s.Build.Target)
	}
	args := map[string]string{}
	for k, v := range s.Build.Args {
		if v == nil {
			t.Errorf("service %s: build argument %s has no value", s.Name, k)
			continue
		}
		args[k] = *v
	}
	im, ok := imageByBuild(s.Build.Dockerfile, args)
	if !ok {
		t.Fatalf("service %s: dockerfile %s with build arguments %v is not one of the images", s.Name, s.Build.Dockerfile, args)
	}
	return im
}

func TestCompose(t *testing.T) {
	p := loadCompose(t, nil, "all-in-one")
	for _, name := range append(append([]string{}, eventflowServices...), "eventflow") {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			im := imageOf(t, s)
			if want := "ghcr.io/eventflow/" + im.name + ":dev"; s.Image != want {
				t.Errorf("image %q, want %q", s.Image, want)
			}
			checkHardened(t, s)
			if s.Init == nil || !*s.Init {
				t.Error("init is not true: the binary would be PID 1 and never reap its functions' orphans")
			}
			// Every variable set is one the binary reads.
			allowed := envNames(t, im)
			for k := range s.Environment {
				if !allowed[k] {
					t.Errorf("environment %s: %s does not read it (it reads %v)", k, im.name, sortedKeys(allowed))
				}
			}
			// It listens on every interface, on its image's port, and
			// the health check asks that port.
			port := defaultPort(t, im)
			host, lport, err := net.SplitHostPort(env(s, im.addrEnv))
			if err != nil || host != "0.0.0.0" || lport != port {
				t.Errorf("%s=%q: want 0.0.0.0:%s", im.addrEnv, env(s, im.addrEnv), port)
			}
			checkProbe(t, s, port)
			if name == "eventflow" {
				if !slices.Contains(s.Profiles, "all-in-one") {
					t.Errorf("the all-in-one is not in a profile: it would start with the split services")
				}
				checkDataVolume(t, p, s)
				return
			}
			dep, ok := s.DependsOn["nats"]
			if !ok || dep.Condition != types.ServiceConditionHealthy {
				t.Errorf("depends_on nats: %+v, want condition service_healthy", dep)
			}
			u, err := url.Parse(env(s, "NATS_URL"))
			if err != nil || u.Scheme != "nats" || u.Hostname() != "nats" || u.Port() != "4222" {
				t.Errorf("NATS_URL=%q: want nats://nats:4222", env(s, "NATS_URL"))
			}
			if len(s.Profiles) != 0 {
				t.Errorf("profiles %v: the split services start by default", s.Profiles)
			}
			if name != "gateway" && len(s.Ports) != 0 {
				t.Errorf("publishes %v: only the gateway is reachable from the host", s.Ports)
			}
			if name != "gateway" && env(s, "EVENTFLOW_RUNTIME") != "process" {
				t.Errorf("EVENTFLOW_RUNTIME=%q: compose runs the process runtime", env(s, "EVENTFLOW_RUNTIME"))
			}
		})
	}

	t.Run("gateway port", func(t *testing.T) {
		s := service(t, p, "gateway")
		if len(s.Ports) != 1 {
			t.Fatalf("ports %+v: want exactly 127.0.0.1:8080:8080", s.Ports)
		}
		pt := s.Ports[0]
		if pt.HostIP != "127.0.0.1" || pt.Published != "8080" || pt.Target != 8080 || pt.Protocol != "tcp" {
			t.Errorf("port %+v: want 127.0.0.1:8080 -> 8080/tcp", pt)
		}
		aio := service(t, p, "eventflow")
		if len(aio.Ports) != 1 || aio.Ports[0].HostIP != "127.0.0.1" || aio.Ports[0].Published == "8080" {
			t.Errorf("all-in-one ports %+v: want one, on 127.0.0.1, not 8080 (the gateway's)", aio.Ports)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		gw, iv, aio := service(t, p, "gateway"), service(t, p, "invoker"), service(t, p, "eventflow")
		if len(env(gw, "EVENTFLOW_JWT_SECRET")) < 32 {
			t.Errorf("gateway EVENTFLOW_JWT_SECRET has %d bytes: it needs 32", len(env(gw, "EVENTFLOW_JWT_SECRET")))
		}
		if env(gw, "EVENTFLOW_CALLBACK_SECRET") == "" || env(gw, "EVENTFLOW_CALLBACK_SECRET") != env(iv, "EVENTFLOW_CALLBACK_SECRET") {
			t.Errorf("callback secrets differ: gateway %q, invoker %q", env(gw, "EVENTFLOW_CALLBACK_SECRET"), env(iv, "EVENTFLOW_CALLBACK_SECRET"))
		}
		if env(aio, "EVENTFLOW_JWT_SECRET") != env(gw, "EVENTFLOW_JWT_SECRET") {
			t.Error("the all-in-one's JWT secret differs from the gateway's")
		}
		if env(gw, "EVENTFLOW_CALLBACK_ALLOW_PRIVATE") != "false" || env(iv, "EVENTFLOW_CALLBACK_ALLOW_PRIVATE") != "false" {
			t.Errorf("EVENTFLOW_CALLBACK_ALLOW_PRIVATE: gateway %q, invoker %q; want false for both (callbacks to public addresses only)",
				env(gw, "EVENTFLOW_CALLBACK_ALLOW_PRIVATE"), env(iv, "EVENTFLOW_CALLBACK_ALLOW_PRIVATE"))
		}
		if env(gw, "EVENTFLOW_ENABLE_TOKEN_ENDPOINT") != "true" {
			t.Errorf("EVENTFLOW_ENABLE_TOKEN_ENDPOINT=%q: the development compose serves /auth/token", env(gw, "EVENTFLOW_ENABLE_TOKEN_ENDPOINT"))
		}
		// Overridable from the environment (or .env), and then still shared.
		o := loadCompose(t, []string{"EVENTFLOW_JWT_SECRET=" + strings.Repeat("j", 40), "EVENTFLOW_CALLBACK_SECRET=from-env", "EVENTFLOW_ENABLE_TOKEN_ENDPOINT=false"}, "all-in-one")
		ogw, oiv, oaio := service(t, o, "gateway"), service(t, o, "invoker"), service(t, o, "eventflow")
		if env(ogw, "EVENTFLOW_JWT_SECRET") != strings.Repeat("j", 40) || env(oaio, "EVENTFLOW_JWT_SECRET") != strings.Repeat("j", 40) {
			t.Error("EVENTFLOW_JWT_SECRET from the environment is not used")
		}
		if env(ogw, "EVENTFLOW_CALLBACK_SECRET") != "from-env" || env(oiv, "EVENTFLOW_CALLBACK_SECRET") != "from-env" {
			t.Error("EVENTFLOW_CALLBACK_SECRET from the environment is not used by both gateway and invoker")
		}
		if env(ogw, "EVENTFLOW_ENABLE_TOKEN_ENDPOINT") != "false" {
			t.Error("EVENTFLOW_ENABLE_TOKEN_ENDPOINT cannot be turned off from the environment")
		}
	})

	t.Run("functions mount", func(t *testing.T) {
		// Job-mode commands are checked by the deployer and run by the
		// invoker: both must see the same read-only directory.
		var sources []string
		for _, name := range []string{"deployer", "invoker", "eventflow"} {
			s := service(t, p, name)
			found := false
			for _, v := range s.Volumes {
				if v.Target == "/functions" {
					found = true
					sources = append(sources, v.Source)
					if v.Type != types.VolumeTypeBind || !v.ReadOnly {
						t.Errorf("%s: /functions is %s, read-only %v: want a read-only bind mount", name, v.Type, v.ReadOnly)
					}
				}
			}
			if !found {
				t.Errorf("%s does not mount /functions", name)
			}
		}
		if len(sources) == 3 && (sources[0] != sources[1] || sources[1] != sources[2]) {
			t.Errorf("/functions sources differ: %v", sources)
		}
	})

	t.Run("nats", func(t *testing.T) {
		s := service(t, p, "nats")
		if !strings.HasPrefix(s.Image, "nats:") || !pinned(s.Image) {
			t.Errorf("image %q: want a pinned nats tag", s.Image)
		}
		args := []string(s.Command)
		if !slices.Contains(args, "-js") {
			t.Errorf("command %v: JetStream (-js) is off", args)
		}
		sd := argAfter(args, "-sd")
		if sd == "" {
			t.Errorf("command %v: no store directory (-sd)", args)
		}
		onVolume := false
		for _, v := range s.Volumes {
			if v.Target == sd && v.Type == types.VolumeTypeVolume {
				onVolume = true
			}
		}
		if !onVolume {
			t.Errorf("-sd %s is not a named volume: JetStream data would be lost", sd)
		}
		m := argAfter(args, "-m")
		if m == "" {
			t.Errorf("command %v: no monitoring port (-m), which the health check needs", args)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 {
			t.Fatalf("no health check")
		}
		last := s.HealthCheck.Test[len(s.HealthCheck.Test)-1]
		if u, err := url.Parse(last); err != nil || u.Port() != m || u.Path != "/healthz" {
			t.Errorf("health check %v: want GET of /healthz on the monitoring port %s", s.HealthCheck.Test, m)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || len(s.Ports) != 0 {
			t.Errorf("nats: read_only %v, cap_drop %v, ports %v: want read-only, ALL dropped, nothing published", s.ReadOnly, s.CapDrop, s.Ports)
		}
	})

	t.Run("nats auth", func(t *testing.T) { checkComposeNATSAuth(t, p) })

	t.Run("secrets key", func(t *testing.T) { checkComposeSecretsKey(t, p) })
}

// secretsKeyVolume holds the key tenants' secrets are sealed to.
const secretsKeyVolume = "secrets-key"

// secretsKeyMount is where a compose service mounts the secrets-key volume.
func secretsKeyMount(s types.ServiceConfig) (types.ServiceVolumeConfig, bool) {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == secretsKeyVolume {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

// checkComposeSecretsKey: the deployer's EVENTFLOW_SECRETS_KEY_FILE is on
// the secrets-key named volume (so the key survives restarts and
// re-creations), mounted writable (it makes the key on the first start) on
// a directory its image's user owns (a new volume takes that owner); the
// invoker, which runs job-mode functions on the process runtime, has the
// same file on a read-only mount of the same volume, and starts after the
// deployer is healthy (the key then exists); no other service mounts the
// volume or is given a key.
func checkComposeSecretsKey(t *testing.T, p *types.Project) {
	if _, ok := p.Volumes[secretsKeyVolume]; !ok {
		t.Errorf("volume %s is not declared", secretsKeyVolume)
	}
	dep, iv := service(t, p, "deployer"), service(t, p, "invoker")
	file := env(dep, "EVENTFLOW_SECRETS_KEY_FILE")
	m, ok := secretsKeyMount(dep)
	if !ok || m.ReadOnly || path.Dir(file) != m.Target {
		t.Fatalf("deployer: EVENTFLOW_SECRETS_KEY_FILE=%q, mount %+v: want a file directly in a writable mount of the %s volume", file, m, secretsKeyVolume)
	}
	// The mount point is the home of the distroless nonroot user, 65532,
	// the user the deployer runs as: mode 0700, owned by it.
	if base := resolvedDockerfile(t, imageOf(t, dep)).final().BaseName; !strings.HasPrefix(base, "gcr.io/distroless/") || !strings.HasSuffix(base, ":nonroot") ||
		m.Target != "/home/nonroot" || dep.User != "65532:65532" {
		t.Errorf("deployer: the %s volume on %s, image FROM %s, user %s: want /home/nonroot of a distroless :nonroot image, as 65532:65532 (its owner), so the deployer can write the key",
			secretsKeyVolume, m.Target, base, dep.User)
	}
	if got := env(iv, "EVENTFLOW_SECRETS_KEY_FILE"); got != file {
		t.Errorf("invoker: EVENTFLOW_SECRETS_KEY_FILE=%q, want the deployer's %q (job-mode functions' secrets open with it)", got, file)
	}
	if im, ok := secretsKeyMount(iv); !ok || !im.ReadOnly || im.Target != m.Target {
		t.Errorf("invoker: mount %+v: want the %s volume read-only on %s", im, secretsKeyVolume, m.Target)
	}
	dependsOn(t, iv, "deployer", types.ServiceConditionHealthy)
	dependsOn(t, iv, "nats", types.ServiceConditionHealthy)
	for _, name := range p.ServiceNames() {
		if name == "deployer" || name == "invoker" {
			continue
		}
		s := service(t, p, name)
		if m, ok := secretsKeyMount(s); ok {
			t.Errorf("%s mounts the %s volume on %s: only the deployer and the invoker may", name, secretsKeyVolume, m.Target)
		}
		if v := env(s, "EVENTFLOW_SECRETS_KEY_FILE"); v != "" && name != "eventflow" {
			t.Errorf("%s: EVENTFLOW_SECRETS_KEY_FILE=%q: only the deployer and the invoker hold the key", name, v)
		}
	}
}

// checkHardened: read-only root, numeric non-root user, every capability
// dropped, no privilege escalation.
func checkHardened(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	if !s.ReadOnly {
		t.Error("read_only is not true")
	}
	m := numericUser.FindStringSubmatch(s.User)
	if m == nil || m[1] == "0" || m[3] == "0" {
		t.Errorf("user %q: want a numeric non-root uid:gid", s.User)
	}
	if !slices.Contains(s.CapDrop, "ALL") || len(s.CapAdd) != 0 {
		t.Errorf("cap_drop %v, cap_add %v: want ALL dropped, none added", s.CapDrop, s.CapAdd)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("security_opt %v: want no-new-privileges:true", s.SecurityOpt)
	}
	if s.Privileged {
		t.Error("privileged")
	}
}

// checkProbe: the health check runs /probe against the service's own
// /healthz on port.
func checkProbe(t *testing.T, s types.ServiceConfig, port string) {
	t.Helper()
	if s.HealthCheck == nil || s.HealthCheck.Disable {
		t.Error("no health check")
		return
	}
	want := []string{"CMD", "/probe", "http://127.0.0.1:" + port + "/healthz"}
	if !slices.Equal([]string(s.HealthCheck.Test), want) {
		t.Errorf("health check %v, want %v", s.HealthCheck.Test, want)
	}
}

// checkDataVolume: the all-in-one's data dir is a named volume.
func checkDataVolume(t *testing.T, p *types.Project, s types.ServiceConfig) {
	t.Helper()
	dir := env(s, "EVENTFLOW_DATA_DIR")
	for _, v := range s.Volumes {
		if v.Target == dir && v.Type == types.VolumeTypeVolume {
			if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("volume %s is not declared", v.Source)
			}
			return
		}
	}
	t.Errorf("EVENTFLOW_DATA_DIR=%q is not on a named volume: the root filesystem is read-only", dir)
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
