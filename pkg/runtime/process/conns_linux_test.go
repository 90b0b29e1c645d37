package process

import (
	"net"
	"net/http"
	"strconv"
	"testing"
)

// TestOpenConnsSeesBothTables: connections accepted by an IPv4 listener
// and by a dual-stack one (listening on "::", where IPv4 clients appear in
// /proc/net/tcp6) are counted, and idle ones closed are not.
func TestOpenConnsSeesBothTables(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", ":0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
		go func() { _ = srv.Serve(l) }()
		port := l.Addr().(*net.TCPAddr).Port
		if n, ok := openConns(port); !ok || n != 0 {
			t.Fatalf("%s: %d connections before any (%v)", addr, n, ok)
		}
		tr := &http.Transport{}
		resp, err := (&http.Client{Transport: tr}).Get("http://127.0.0.1:" + strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n, _ := openConns(port); n != 1 {
			t.Fatalf("%s: %d connections with one kept alive, want 1", addr, n)
		}
		tr.CloseIdleConnections()
		_ = srv.Close()
	}
}
