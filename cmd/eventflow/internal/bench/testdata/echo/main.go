// Command echo is the trivial http-mode function of the benchmarks: it
// listens on 127.0.0.1:$PORT and answers every request with its body (and
// its Content-Type), logging nothing per request so that the benchmark
// measures the platform, not log shipping. ECHO_DELAY (a duration, unset
// by default) makes it wait that long before each answer: work that takes
// time, for the scaling benchmark's burst.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "echo: PORT is not set")
		os.Exit(2)
	}
	var delay time.Duration
	if v := os.Getenv("ECHO_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fmt.Fprintln(os.Stderr, "echo: ECHO_DELAY:", v, "is not a duration")
			os.Exit(2)
		}
		delay = d
	}
	srv := &http.Server{
		Addr:              "127.0.0.1:" + port,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			if ct := r.Header.Get("Content-Type"); ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			_, _ = w.Write(body)
		}),
	}
	fmt.Fprintf(os.Stderr, "echo: listening on %s pid %d\n", srv.Addr, os.Getpid())
	err := srv.ListenAndServe()
	fmt.Fprintln(os.Stderr, "echo:", err)
	os.Exit(1)
}
