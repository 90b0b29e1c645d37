// Command coldserver is the http-mode function of the invoker's scale
// from zero tests: it listens on 127.0.0.1:$PORT and answers every
// request with its body upper-cased, the body "slow" after 800ms.
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
	err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Equal(body, []byte("slow")) {
			time.Sleep(800 * time.Millisecond)
		}
		w.Write(bytes.ToUpper(body))
	}))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
