package process

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
)

// openConns counts the established TCP connections accepted on the port,
// from /proc/net/tcp and /proc/net/tcp6 (a server listening on "::", as
// Node's and Go's do by default, has its IPv4 connections in tcp6 with an
// IPv4-mapped address): requests proxied by the gateway's route reach an
// instance without passing through this runtime, so a drain waits for
// their connections too. Idle keep-alive connections count as well; their
// holders close them when the endpoint goes (the gateway, and the
// instance's own transport here). ok is false when neither table can be read.
func openConns(port int) (n int, ok bool) {
	suffix := []byte(fmt.Sprintf(":%04X", port))
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		c, err := countEstablished(table, suffix)
		if err == nil {
			ok = true
		}
		n += c
	}
	return n, ok
}

// countEstablished counts the rows of a /proc/net/tcp* table whose local
// address ends in suffix (":<port in hex>") in state ESTABLISHED.
func countEstablished(table string, suffix []byte) (int, error) {
	f, err := os.Open(table)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 512), 4096)
	for sc.Scan() {
		// "  12: 0100007F:1F90 0100007F:D2A4 01 ..." — local, remote, state
		// (01 is ESTABLISHED). A client's own ephemeral port is never the
		// port an instance listens on.
		fields := bytes.Fields(sc.Bytes())
		if len(fields) > 3 && bytes.HasSuffix(fields[1], suffix) && bytes.Equal(fields[3], []byte("01")) {
			n++
		}
	}
	return n, sc.Err()
}
