package busauth

import (
	"fmt"
	"os"
	"path/filepath"
)

// Bundle file layout, as `eventflow nats-auth init` writes it.
const (
	BundleKeys   = "keys"   // the kit's seeds: keep them offline
	BundleSecret = "secret" // what the cluster gets, as one Secret
	AuthConfFile = "auth.conf"
)

// DataDirKeys is where `eventflow dev` keeps its keys in its data dir.
func DataDirKeys(dataDir string) string { return filepath.Join(dataDir, "nats-keys") }

// CredsFile is the name of a service's credentials in the bundle.
func CredsFile(service string) string { return service + ".creds" }

// WriteBundle makes a new kit and writes what a cluster needs into dir:
// keys/ (the seeds, to mint tenant credentials later; never put them in
// the cluster), secret/auth.conf (for the NATS servers) and
// secret/<service>.creds (one per service). It refuses to overwrite an
// existing bundle, whose credentials are in use.
func WriteBundle(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, BundleKeys)); err == nil {
		return fmt.Errorf("%s already holds bus keys: remove it first to make new ones (every credential made from the old keys stops working)", dir)
	}
	kit, err := Generate()
	if err != nil {
		return err
	}
	if err := kit.Save(filepath.Join(dir, BundleKeys)); err != nil {
		return err
	}
	return kit.WriteSecretFiles(filepath.Join(dir, BundleSecret))
}

// WriteSecretFiles writes auth.conf and every service's credentials into
// dir.
func (k *Kit) WriteSecretFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	srv, err := k.Server()
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, AuthConfFile), []byte(srv.Config())); err != nil {
		return err
	}
	for _, s := range Services {
		creds, err := k.ServiceCreds(s)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, CredsFile(s)), creds); err != nil {
			return err
		}
	}
	return nil
}
