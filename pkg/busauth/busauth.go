// Package busauth gives every party on EventFlow's NATS bus its own
// identity with the least permissions it needs: each service, each
// tenant's producers and subscribers, and an operator's admin.
//
// It uses NATS's decentralized (JWT) authentication: an operator key, a
// system account, and the EventFlow account whose key signs user JWTs. The
// server is given only public JWTs (no secrets); a user's credentials (a
// `.creds` file: its JWT and nkey seed) are minted offline by whoever holds
// the account key, so a tenant's credentials need no server change.
package busauth

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// AccountName is the account every service and tenant user belongs to.
const AccountName = "EVENTFLOW"

// Kit is the trust chain: its seeds are secret and stay where credentials
// are minted (the dev data dir, an operator's machine), never in a server.
type Kit struct {
	Operator nkeys.KeyPair
	System   nkeys.KeyPair
	Account  nkeys.KeyPair
}

var kitFiles = []string{"operator.nk", "system.nk", "account.nk"}

// Generate makes a new kit.
func Generate() (*Kit, error) {
	op, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	sys, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	acc, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	return &Kit{Operator: op, System: sys, Account: acc}, nil
}

// Save writes the seeds into dir (mode 0700, files 0600).
func (k *Kit) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bus keys dir: %w", err)
	}
	for i, kp := range []nkeys.KeyPair{k.Operator, k.System, k.Account} {
		seed, err := kp.Seed()
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, kitFiles[i]), append(seed, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// Load reads a kit saved by Save.
func Load(dir string) (*Kit, error) {
	var kps [3]nkeys.KeyPair
	for i, name := range kitFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("bus keys: %w", err)
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return nil, fmt.Errorf("bus keys: %s: %w", name, err)
		}
		kps[i] = kp
	}
	return &Kit{Operator: kps[0], System: kps[1], Account: kps[2]}, nil
}

// LoadOrCreate loads the kit in dir, or makes and saves one on first use.
func LoadOrCreate(dir string) (*Kit, error) {
	k, err := Load(dir)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if k, err = Generate(); err != nil {
		return nil, err
	}
	return k, k.Save(dir)
}

// Server is what a NATS server needs to trust the kit: public JWTs only.
type Server struct {
	Operator *jwt.OperatorClaims
	// OperatorJWT, SystemAccount (a public key) and Accounts (public key
	// to account JWT) are the server configuration's operator,
	// system_account and resolver_preload.
	OperatorJWT   string
	SystemAccount string
	Accounts      map[string]string
	// Account is the EventFlow account's public key (its JetStream
	// store's directory name).
	Account string
}

// Server signs the operator and account JWTs.
func (k *Kit) Server() (Server, error) {
	opPub, err := k.Operator.PublicKey()
	if err != nil {
		return Server{}, err
	}
	sysPub, err := k.System.PublicKey()
	if err != nil {
		return Server{}, err
	}
	accPub, err := k.Account.PublicKey()
	if err != nil {
		return Server{}, err
	}
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "eventflow"
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(k.Operator)
	if err != nil {
		return Server{}, fmt.Errorf("operator jwt: %w", err)
	}
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = "SYS"
	sysJWT, err := sc.Encode(k.Operator)
	if err != nil {
		return Server{}, fmt.Errorf("system account jwt: %w", err)
	}
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = AccountName
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(k.Operator)
	if err != nil {
		return Server{}, fmt.Errorf("account jwt: %w", err)
	}
	return Server{Operator: oc, OperatorJWT: opJWT, SystemAccount: sysPub, Accounts: map[string]string{sysPub: sysJWT, accPub: accJWT}, Account: accPub}, nil
}

// Config is the server configuration fragment (nats.conf syntax) that
// trusts the kit, for `include` from a server's main configuration.
func (s Server) Config() string {
	var b strings.Builder
	b.WriteString("# EventFlow's bus authentication, made by `eventflow nats-auth init`.\n")
	b.WriteString("# Public JWTs only: the keys that sign users are not here.\n")
	fmt.Fprintf(&b, "# The EventFlow account (its streams are under <store_dir>/jetstream/<account>): %s\n", s.Account)
	fmt.Fprintf(&b, "operator: %q\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n", s.OperatorJWT, s.SystemAccount)
	for _, pub := range slices.Sorted(maps.Keys(s.Accounts)) {
		fmt.Fprintf(&b, "  %s: %q\n", pub, s.Accounts[pub])
	}
	b.WriteString("}\n")
	return b.String()
}

// ServiceCreds mints a service's credentials (they do not expire: rotate
// them with a new kit).
func (k *Kit) ServiceCreds(service string) ([]byte, error) {
	p, err := ServicePermissions(service)
	if err != nil {
		return nil, err
	}
	return k.creds("eventflow-"+service, p, time.Time{})
}

// TenantCreds mints credentials for a tenant's producers and subscribers,
// valid for ttl (0: no expiry).
func (k *Kit) TenantCreds(tenant string, ttl time.Duration, now time.Time) ([]byte, error) {
	p, err := TenantPermissions(tenant)
	if err != nil {
		return nil, err
	}
	var exp time.Time
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	return k.creds("tenant-"+tenant, p, exp)
}

// AdminCreds mints an operator's credentials: everything in the EventFlow
// account (streams, records, every tenant's subjects), for the nats CLI.
func (k *Kit) AdminCreds(ttl time.Duration, now time.Time) ([]byte, error) {
	var exp time.Time
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	return k.creds("admin", Permissions{Publish: []string{">"}, Subscribe: []string{">"}}, exp)
}

func (k *Kit) creds(name string, p Permissions, exp time.Time) ([]byte, error) {
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, err := user.PublicKey()
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	uc.Pub.Allow.Add(p.Publish...)
	uc.Sub.Allow.Add(p.Subscribe...)
	if p.Reply {
		uc.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	}
	if !exp.IsZero() {
		uc.Expires = exp.Unix()
	}
	token, err := uc.Encode(k.Account)
	if err != nil {
		return nil, fmt.Errorf("user jwt: %w", err)
	}
	seed, err := user.Seed()
	if err != nil {
		return nil, err
	}
	return jwt.FormatUserConfig(token, seed)
}

// ConnectOptions are the nats.go options to connect with creds: the
// user's JWT and seed, and the reply prefix its permissions allow.
func ConnectOptions(creds []byte) ([]nats.Option, error) {
	token, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	kp, err := jwt.ParseDecoratedNKey(creds)
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	opts := []nats.Option{nats.UserJWTAndSeed(token, string(seed))}
	if prefix := InboxPrefix(uc.Sub.Allow); prefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(prefix))
	}
	return opts, nil
}

// ConnectOptionsFile is ConnectOptions for a .creds file.
func ConnectOptionsFile(path string) ([]nats.Option, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	return ConnectOptions(b)
}

// InboxPrefix finds the private reply prefix among subscribe permissions
// ("_INBOX_x.>" gives "_INBOX_x"); "" when there is none.
func InboxPrefix(subscribe []string) string {
	for _, s := range subscribe {
		if strings.HasPrefix(s, "_INBOX_") && strings.HasSuffix(s, ".>") {
			return strings.TrimSuffix(s, ".>")
		}
	}
	return ""
}

// writeFile replaces path atomically with mode 0600.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
