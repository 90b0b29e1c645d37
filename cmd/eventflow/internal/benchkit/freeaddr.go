package benchkit

import "net"

// FreeAddr is a loopback address with a port that was free a moment ago,
// for a child process that cannot report the port it picked itself. (A
// process could take it in between; on a benchmark machine that is rare
// enough, and the child then fails to start rather than measuring wrong.)
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
