package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Context is one gateway and the token to call it with.
type Context struct {
	Name   string `yaml:"name"`
	URL    string `yaml:"url"`
	Token  string `yaml:"token,omitempty"`
	Tenant string `yaml:"tenant,omitempty"`
}

// Config is the CLI's config file: named contexts and the one in use.
type Config struct {
	CurrentContext string    `yaml:"current-context"`
	Contexts       []Context `yaml:"contexts"`
}

// maxConfigBytes bounds the config file read (it holds a few tokens).
const maxConfigBytes = 1 << 20

// configPath is $EVENTFLOW_CONFIG, else $XDG_CONFIG_HOME/eventflow/config.yaml
// (~/.config when XDG_CONFIG_HOME is unset), as the XDG base directory
// specification has it.
func configPath(getenv func(string) string) (string, error) {
	if p := getenv("EVENTFLOW_CONFIG"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set: set EVENTFLOW_CONFIG to the config file's path")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "eventflow", "config.yaml"), nil
}

// loadConfig reads the config file; a missing file is an empty config.
func loadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	var cfg Config
	dec := yaml.NewDecoder(&limitedReader{r: f, n: maxConfigBytes})
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &cfg, nil
}

type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("larger than %d bytes", maxConfigBytes)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// save writes the config atomically, readable by its owner only: it holds
// bearer tokens.
func (c *Config) save(path string) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

func (c *Config) find(name string) *Context {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i]
		}
	}
	return nil
}

// upsert adds or replaces a context and makes it current.
func (c *Config) upsert(ctx Context) {
	if old := c.find(ctx.Name); old != nil {
		*old = ctx
	} else {
		c.Contexts = append(c.Contexts, ctx)
		slices.SortFunc(c.Contexts, func(a, b Context) int { return strings.Compare(a.Name, b.Name) })
	}
	c.CurrentContext = ctx.Name
}

// remove drops a context; the current one becomes none.
func (c *Config) remove(name string) bool {
	n := len(c.Contexts)
	c.Contexts = slices.DeleteFunc(c.Contexts, func(x Context) bool { return x.Name == name })
	if c.CurrentContext == name {
		c.CurrentContext = ""
	}
	return len(c.Contexts) != n
}
