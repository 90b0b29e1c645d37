// Command echoserver is the http-mode function used by the process runtime
// tests: it listens on 127.0.0.1:$PORT, answers every request to "/" with
// its body upper-cased and logs one line per request on stderr; to another
// path it answers the method, path, query and X-Custom header it got.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := "127.0.0.1:" + os.Getenv("PORT")
	fmt.Fprintf(os.Stderr, "listening on %s pid %d\n", addr, os.Getpid())
	err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/" {
			// For route requests (InvokeRequest.Request): what arrived.
			fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Custom"), body)
			return
		}
		if bytes.Equal(body, []byte("hang")) {
			// For timeout tests: answer late, or never if the caller gives up.
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		if bytes.Equal(body, []byte("slow")) {
			// For drain tests: a request still running when the instance
			// is scaled away (the server itself does not drain on SIGTERM).
			time.Sleep(700 * time.Millisecond)
			w.Write([]byte("SLOW"))
			return
		}
		if bytes.Equal(body, []byte("fail")) {
			http.Error(w, "function failed on purpose", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(os.Stderr, "request %s %d bytes\n", r.Header.Get("X-Invocation-Id"), len(body))
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Write(bytes.ToUpper(body))
	}))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
