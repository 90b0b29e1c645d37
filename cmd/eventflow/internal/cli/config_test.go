package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigRoundTripAndPrivacy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eventflow", "config.yaml")
	cfg, err := loadConfig(path)
	if err != nil || len(cfg.Contexts) != 0 {
		t.Fatalf("missing file: %+v, %v; want an empty config", cfg, err)
	}
	cfg.upsert(Context{Name: "b", URL: "http://b", Token: "tb"})
	cfg.upsert(Context{Name: "a", URL: "http://a", Token: "ta"})
	if err := cfg.save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600: it holds tokens", st.Mode().Perm())
	}
	back, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.CurrentContext != "a" || len(back.Contexts) != 2 || back.Contexts[0].Name != "a" || back.find("b").Token != "tb" {
		t.Errorf("read back %+v", back)
	}
	if !back.remove("a") || back.CurrentContext != "" || back.remove("a") {
		t.Errorf("remove: %+v", back)
	}
	if err := os.WriteFile(path, []byte("current-context: x\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(path); err == nil {
		t.Error("a config with an unknown field was accepted")
	}
}

func TestConfigPath(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	get := func(k string) string { return env[k] }
	if p, _ := configPath(get); p != "/home/u/.config/eventflow/config.yaml" {
		t.Errorf("HOME only: %s", p)
	}
	env["XDG_CONFIG_HOME"] = "/x"
	if p, _ := configPath(get); p != "/x/eventflow/config.yaml" {
		t.Errorf("XDG_CONFIG_HOME: %s", p)
	}
	env["EVENTFLOW_CONFIG"] = "/c.yaml"
	if p, _ := configPath(get); p != "/c.yaml" {
		t.Errorf("EVENTFLOW_CONFIG: %s", p)
	}
}
