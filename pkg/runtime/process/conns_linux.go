package process

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
)

// openConns counts the established TCP connections accepted on the
// loopback port, from /proc/net/tcp: requests proxied by the gateway's
// route reach an instance without passing through this runtime, so a
// drain waits for their connections too. Idle keep-alive connections
// count as well; their holders close them when the endpoint goes (the
// gateway, and this runtime's own transport). ok is false when the table
// cannot be read.
func openConns(port int) (n int, ok bool) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	local := []byte(fmt.Sprintf("0100007F:%04X", port))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 512), 4096)
	for sc.Scan() {
		// "  12: 0100007F:1F90 0100007F:D2A4 01 ..." — local, remote, state
		// (01 is ESTABLISHED).
		fields := bytes.Fields(sc.Bytes())
		if len(fields) > 3 && bytes.Equal(fields[1], local) && bytes.Equal(fields[3], []byte("01")) {
			n++
		}
	}
	return n, sc.Err() == nil
}
