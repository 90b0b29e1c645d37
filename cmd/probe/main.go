// Command probe is the container images' health check: distroless images
// have no shell, curl or wget. It GETs a URL and exits 0 on a 2xx answer;
// anything else (another status, a refused connection, a timeout) exits 1
// with a one-line reason on stderr.
//
//	probe [-timeout 2s] URL
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the whole command: the exit code for args, reasons written to
// stderr.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long (connect, request and response headers)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probe [-timeout 2s] URL\nexits 0 when a GET of URL answers 2xx, 1 otherwise")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "probe: -timeout must be positive")
		return 2
	}
	if err := check(fs.Arg(0), *timeout); err != nil {
		fmt.Fprintln(stderr, "probe:", oneLine(err.Error()))
		return 1
	}
	return 0
}

// check GETs target and returns nil on a 2xx.
func check(target string, timeout time.Duration) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: only http and https URLs", target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "eventflow-probe")
	// No proxy from the environment: a health check talks to the container
	// itself, never through a proxy.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %s", target, timeout)
		}
		return err
	}
	defer resp.Body.Close()
	// Read a little of the body so a reason can be shown, never all of it.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := fmt.Sprintf("GET %s: %s", target, resp.Status)
		if b := strings.TrimSpace(string(body)); b != "" {
			msg += ": " + b
		}
		return errors.New(msg)
	}
	return nil
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
