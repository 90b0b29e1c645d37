package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "want GET", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nats not ready\nsecond line", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/broken", http.StatusFound)
	})
	release := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux) // on loopback
	defer srv.Close()
	defer close(release)

	// An address nothing listens on: listen, note the port, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	cases := []struct {
		name   string
		args   []string
		code   int
		reason string // a substring of stderr; empty: stderr must be empty
	}{
		{"2xx", []string{srv.URL + "/ok"}, 0, ""},
		{"5xx", []string{srv.URL + "/broken"}, 1, "503 Service Unavailable: nats not ready second line"},
		{"404", []string{srv.URL + "/missing"}, 1, "404 Not Found"},
		{"redirect to 5xx", []string{srv.URL + "/redirect"}, 1, "503"},
		{"refused", []string{refused}, 1, "connection refused"},
		{"timeout", []string{"-timeout", "200ms", srv.URL + "/slow"}, 1, "no answer within 200ms"},
		{"not http", []string{"ftp://127.0.0.1/x"}, 1, "only http and https"},
		{"no url", nil, 2, "usage: probe"},
		{"two urls", []string{srv.URL, srv.URL}, 2, "usage: probe"},
		{"bad timeout", []string{"-timeout", "0s", srv.URL + "/ok"}, 2, "must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			start := time.Now()
			code := run(c.args, &stderr)
			if code != c.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, c.code, stderr.String())
			}
			if c.reason == "" {
				if stderr.Len() != 0 {
					t.Errorf("stderr %q, want nothing", stderr.String())
				}
				return
			}
			if !strings.Contains(stderr.String(), c.reason) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), c.reason)
			}
			if c.code == 1 && strings.Count(strings.TrimSuffix(stderr.String(), "\n"), "\n") != 0 {
				t.Errorf("reason is not one line: %q", stderr.String())
			}
			if c.name == "timeout" && time.Since(start) > 5*time.Second {
				t.Errorf("timeout took %s", time.Since(start))
			}
		})
	}
}

// TestBinary runs the built command the way a compose health check does, so
// the exit codes are the process's, not only run's.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "probe")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		url  string
		code int
	}{{srv.URL + "/healthz", 0}, {srv.URL + "/other", 1}} {
		cmd := exec.Command(bin, "-timeout", "2s", c.url)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code {
			t.Errorf("probe %s: exit %d, want %d (stderr %q)", c.url, code, c.code, stderr.String())
		}
	}
}
