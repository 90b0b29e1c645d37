package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for addr, want := range map[string]Class{
		"8.8.8.8":                Public,
		"93.184.216.34":          Public,
		"2606:4700:4700::1111":   Public,
		"127.0.0.1":              Loopback,
		"127.255.255.254":        Loopback,
		"::1":                    Loopback,
		"::ffff:127.0.0.1":       Loopback, // IPv4-mapped
		"64:ff9b::7f00:1":        Loopback, // NAT64 of 127.0.0.1
		"64:ff9b::808:808":       Public,   // NAT64 of 8.8.8.8
		"10.0.0.1":               Private,
		"172.16.0.1":             Private,
		"172.31.255.255":         Private,
		"172.32.0.1":             Public,
		"192.168.1.1":            Private,
		"::ffff:10.1.2.3":        Private,
		"fc00::1":                Private,
		"fd12:3456::1":           Private,
		"100.64.0.1":             Shared,
		"100.127.255.255":        Shared,
		"100.128.0.1":            Public,
		"169.254.169.254":        LinkLocal, // cloud metadata
		"::ffff:169.254.169.254": LinkLocal,
		"fe80::1":                LinkLocal,
		"fe80::1%eth0":           LinkLocal,
		"0.0.0.0":                Unspecified,
		"0.1.2.3":                Unspecified,
		"::":                     Unspecified,
		"::ffff:0.0.0.0":         Unspecified,
		"224.0.0.1":              Multicast,
		"239.255.255.250":        Multicast,
		"255.255.255.255":        Multicast,
		"ff02::1":                Multicast,
		"192.0.2.1":              Reserved, // documentation
		"198.18.0.1":             Reserved, // benchmarking
		"240.0.0.1":              Reserved,
		"2001:db8::1":            Reserved,
		"2001::1":                Reserved, // Teredo
		"2002:7f00:1::1":         Reserved, // 6to4 of 127.0.0.1
		"::7f00:1":               Reserved, // IPv4-compatible (deprecated)
		"4000::1":                Reserved, // not global unicast
	} {
		if got := Classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Classify(%s) = %s, want %s", addr, got, want)
		}
	}
	if got := Classify(netip.Addr{}); got != Reserved {
		t.Errorf("Classify(invalid) = %s", got)
	}
}

func TestCheckAddr(t *testing.T) {
	off := Policy{}
	private := Policy{AllowPrivate: true}
	listed := Policy{Allow: mustAllow(t, "10.20.0.0/16, 169.254.169.254, 0.0.0.0/0")}
	for _, c := range []struct {
		addr                 string
		off, private, listed bool // permitted by each
	}{
		{"8.8.8.8", true, true, true},
		{"127.0.0.1", false, true, true},
		{"::ffff:127.0.0.1", false, true, true},
		{"::1", false, true, false},
		{"10.0.0.1", false, true, true},
		{"10.20.3.4", false, true, true},
		{"fd00::1", false, true, false},
		{"100.64.1.1", false, true, true},
		{"169.254.169.254", false, false, true},
		{"169.254.1.1", false, false, true},
		{"fe80::1", false, false, false},
		{"224.0.0.1", false, false, true},
		// Never: dialling 0.0.0.0 or :: reaches this host, whatever the list says.
		{"0.0.0.0", false, false, false},
		{"::", false, false, false},
		{"::ffff:0.0.0.0", false, false, false},
	} {
		for _, p := range []struct {
			name string
			p    Policy
			want bool
		}{{"off", off, c.off}, {"allow private", private, c.private}, {"allow-list", listed, c.listed}} {
			err := p.p.CheckAddr(netip.MustParseAddr(c.addr))
			if (err == nil) != p.want || (err != nil && !errors.Is(err, ErrRefused)) {
				t.Errorf("%s, %s: %v, want permitted=%v", c.addr, p.name, err, p.want)
			}
		}
	}
	err := off.CheckAddr(netip.MustParseAddr("169.254.169.254"))
	if err == nil || !strings.Contains(err.Error(), "169.254.169.254 is a link-local address") {
		t.Errorf("the error does not say why: %v", err)
	}
}

func mustAllow(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseAllowList(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseAllowList(t *testing.T) {
	got := mustAllow(t, " 10.20.0.0/16,fd00:1::/64  192.168.1.10, ::ffff:172.16.0.0/108,10.1.2.3/8")
	want := []string{"10.20.0.0/16", "fd00:1::/64", "192.168.1.10/32", "172.16.0.0/12", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
	if p, err := ParseAllowList(""); err != nil || len(p) != 0 {
		t.Errorf("empty list: %v %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/x", "0177.0.0.1"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckHost(t *testing.T) {
	dns := Hosts{
		"public.example":   {"93.184.216.34"},
		"internal.example": {"10.0.0.5", "fd00::5"},
		"mixed.example":    {"127.0.0.1", "93.184.216.34"},
		"metadata.example": {"169.254.169.254"},
	}
	off := Policy{Resolver: dns}
	private := Policy{AllowPrivate: true, Resolver: dns}
	for _, c := range []struct {
		host         string
		off, private bool
	}{
		{"93.184.216.34", true, true},
		{"127.0.0.1", false, true},
		{"127.0.0.1.", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"169.254.169.254", false, false},
		{"fe80::1%eth0", false, false},
		// Numeric forms some resolvers read as 127.0.0.1: never accepted.
		{"2130706433", false, false},
		{"0177.0.0.1", false, false},
		{"0x7f.0.0.1", false, false},
		{"0x7f000001", false, false},
		{"127.1", false, false},
		{"127.000.000.001", false, false},
		{"1.2.3.4.5", false, false},
		// Names: refused when every address is.
		{"public.example", true, true},
		{"internal.example", false, true},
		{"mixed.example", true, true}, // the dial check skips the loopback one
		{"metadata.example", false, false},
		// Not resolvable now: accepted (the invoker checks what it dials).
		{"nxdomain.example", true, true},
		// A name with digits is still a name.
		{"123.example", true, true},
		{"1password.com", true, true},
	} {
		for _, p := range []struct {
			name string
			p    Policy
			want bool
		}{{"off", off, c.off}, {"allow private", private, c.private}} {
			err := p.p.CheckHost(context.Background(), c.host)
			if (err == nil) != p.want || (err != nil && !errors.Is(err, ErrRefused)) {
				t.Errorf("%s, %s: %v, want accepted=%v", c.host, p.name, err, p.want)
			}
		}
	}
	err := off.CheckHost(context.Background(), "internal.example")
	if err == nil || !strings.Contains(err.Error(), "internal.example resolves only to") || !strings.Contains(err.Error(), "private") {
		t.Errorf("the error does not say why: %v", err)
	}
}

// TestCheckHostRealResolver: "localhost" resolves (from /etc/hosts) to
// loopback addresses only.
func TestCheckHostRealResolver(t *testing.T) {
	if addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost"); err != nil || len(addrs) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	if err := (Policy{}).CheckHost(context.Background(), "localhost"); !errors.Is(err, ErrRefused) {
		t.Errorf("localhost: %v", err)
	}
	if err := (Policy{AllowPrivate: true}).CheckHost(context.Background(), "localhost"); err != nil {
		t.Errorf("localhost, private allowed: %v", err)
	}
}

// receiver is a loopback HTTP server that counts the requests it gets.
func receiver(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func post(c *http.Client, u string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("{}"))
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// TestHTTPClientRefusesWhatItDials: the dial guard checks the address
// actually connected to, however the URL names it: a loopback server
// reached by address or by a name resolving to it (what a DNS rebinding
// does after an accept-time check) gets nothing when private destinations
// are not allowed, and 0.0.0.0 (which reaches this host) never.
func TestHTTPClientRefusesWhatItDials(t *testing.T) {
	srv, hits := receiver(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	guarded := Policy{}.HTTPClient(5 * time.Second)
	urls := []string{srv.URL, "http://[::ffff:127.0.0.1]:" + itoa(port)}
	if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", "localhost"); err == nil {
		urls = append(urls, "http://localhost:"+itoa(port))
	}
	for _, u := range urls {
		if _, err := post(guarded, u); !errors.Is(err, ErrRefused) {
			t.Errorf("POST %s: %v, want ErrRefused", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	// 0.0.0.0 connects to this host: refused even with private allowed.
	permissive := Policy{AllowPrivate: true, Allow: mustAllow(t, "0.0.0.0/0")}.HTTPClient(5 * time.Second)
	if _, err := post(permissive, "http://0.0.0.0:"+itoa(port)); !errors.Is(err, ErrRefused) {
		t.Errorf("POST to 0.0.0.0: %v, want ErrRefused", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
	// Allowed, the same receiver is reached.
	if resp, err := post(Policy{AllowPrivate: true}.HTTPClient(5*time.Second), srv.URL); err != nil || resp.StatusCode != 200 || hits.Load() != 1 {
		t.Fatalf("allowed POST: %v %v, %d requests", resp, err, hits.Load())
	}
}

// TestHTTPClientDoesNotFollowRedirects: a receiver's redirect is the
// answer; its target gets nothing.
func TestHTTPClientDoesNotFollowRedirects(t *testing.T) {
	target, targetHits := receiver(t, nil)
	bouncer, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	})
	resp, err := post(Policy{AllowPrivate: true}.HTTPClient(5*time.Second), bouncer.URL)
	if err != nil || resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("%v %v, want the 307 itself", resp, err)
	}
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("the redirect was followed (%d requests)", n)
	}
}

// TestHTTPClientIgnoresProxyEnvironment: a proxy from the environment would
// make every dial go to the proxy, and the check see only it: here a
// permitted loopback proxy would carry a request to a refused address.
func TestHTTPClientIgnoresProxyEnvironment(t *testing.T) {
	proxy, proxyHits := receiver(t, nil)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	if _, err := post(Policy{AllowPrivate: true}.HTTPClient(2*time.Second), "http://192.0.2.1:9/"); !errors.Is(err, ErrRefused) {
		t.Errorf("POST to a documentation address: %v, want ErrRefused", err)
	}
	if n := proxyHits.Load(); n != 0 {
		t.Fatalf("the proxy got %d requests", n)
	}
}

func TestControlRefusesUnparsableAddress(t *testing.T) {
	if err := (Policy{AllowPrivate: true}).Control(context.Background(), "tcp", "not-an-address", nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("%v", err)
	}
	if err := (Policy{}).Control(context.Background(), "tcp6", "[2606:4700:4700::1111]:443", nil); err != nil {
		t.Fatalf("public IPv6: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
