// Package egress decides which network destinations the platform's own
// outbound requests on behalf of tenants (callbacks) may reach. A tenant
// names the URL, so without a check a callback is a way into the cluster:
// loopback, the pod and service networks, the cloud metadata service.
//
// A Policy permits public unicast addresses, plus what its allow-list adds.
// It is applied twice: to the URL's host when a callback is accepted
// (CheckHost, so a destination that can never be reached is refused at
// once) and to every address actually dialled (Control, in HTTPClient), which
// is what counts: DNS may answer differently at delivery time (rebinding).
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is the error of a destination the policy does not permit.
var ErrRefused = errors.New("callback destination not allowed")

// Class is the kind of destination an address is.
type Class int

// The classes. Only Public is permitted without an allow-list.
const (
	Public      Class = iota
	Loopback          // 127.0.0.0/8, ::1
	Private           // RFC 1918, fc00::/7 (unique local), fec0::/10 (old site-local)
	Shared            // 100.64.0.0/10 (carrier-grade NAT; some clusters' pod networks)
	LinkLocal         // 169.254.0.0/16 (cloud metadata services), fe80::/10
	Unspecified       // 0.0.0.0/8, :: (dialling them reaches this host)
	Multicast         // 224.0.0.0/4, 255.255.255.255, ff00::/8
	Reserved          // documentation, benchmarking, IETF and future use, non-global IPv6, 6to4 and Teredo
)

var classNames = [...]string{"public", "loopback", "private", "shared (carrier-grade NAT)", "link-local", "unspecified", "multicast or broadcast", "reserved"}

func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// The special-purpose ranges (IANA's IPv4 and IPv6 special-purpose address
// registries), by class; what is in none of them is public.
var (
	ranges = []struct {
		class Class
		nets  []netip.Prefix
	}{
		{Unspecified, prefixes("0.0.0.0/8", "::/128")},
		{Loopback, prefixes("127.0.0.0/8", "::1/128")},
		{Private, prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")},
		{Shared, prefixes("100.64.0.0/10")},
		{LinkLocal, prefixes("169.254.0.0/16", "fe80::/10")},
		{Multicast, prefixes("224.0.0.0/4", "255.255.255.255/32", "ff00::/8")},
		{Reserved, prefixes(
			"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
			// IPv6: IPv4-compatible and other ::/8 leftovers, discard-only,
			// IETF protocol assignments (Teredo, benchmarking, ORCHID),
			// documentation, 6to4 (both can carry an IPv4 address inside).
			"::/8", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20",
		)},
	}
	// nat64 is the well-known NAT64 prefix: the address inside is IPv4.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// globalUnicast6 is where every public IPv6 address is.
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// Classify says what kind of destination ip is. IPv4-mapped IPv6 addresses
// (::ffff:127.0.0.1) and NAT64 ones (64:ff9b::7f00:1) are classified by the
// IPv4 address they carry.
func Classify(ip netip.Addr) Class {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return Reserved
	}
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		return Classify(netip.AddrFrom4([4]byte(b[12:16])))
	}
	for _, r := range ranges {
		for _, n := range r.nets {
			if n.Contains(ip) {
				return r.class
			}
		}
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return Reserved
	}
	return Public
}

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Hosts is a Resolver that answers from a fixed table, as /etc/hosts
// does: a name not in it does not resolve. Addresses must parse.
type Hosts map[string][]string

// LookupNetIP implements Resolver.
func (h Hosts) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := h[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, &net.DNSError{Err: "bad address " + s, Name: host}
		}
		out = append(out, a)
	}
	return out, nil
}

// Policy says which destinations are permitted: public addresses always,
// loopback, private and shared ones with AllowPrivate, and any address in
// Allow. An unspecified address (0.0.0.0, ::) is never permitted: it is
// not a destination, and dialling it reaches this host.
type Policy struct {
	// AllowPrivate permits loopback, private (RFC 1918, fc00::/7) and
	// shared (100.64.0.0/10) addresses: development, or a cluster whose
	// callback receivers are its own services. Link-local addresses (the
	// metadata service) need an explicit Allow entry.
	AllowPrivate bool
	// Allow permits these networks whatever their class.
	Allow []netip.Prefix
	// Resolver is CheckHost's; nil means net.DefaultResolver.
	Resolver Resolver
}

// CheckAddr returns nil if ip may be reached, else an error wrapping
// ErrRefused that says why.
func (p Policy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	class := Classify(ip)
	switch {
	case class == Public:
		return nil
	case class == Unspecified:
		// Refused whatever Allow says: dialling it reaches this host.
	case p.allowed(ip):
		return nil
	case p.AllowPrivate && (class == Loopback || class == Private || class == Shared):
		return nil
	}
	article := "a"
	if strings.ContainsRune("aeiou", rune(class.String()[0])) {
		article = "an"
	}
	return fmt.Errorf("%w: %s is %s %s address", ErrRefused, ip, article, class)
}

func (p Policy) allowed(ip netip.Addr) bool {
	for _, n := range p.Allow {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// lookupTimeout bounds CheckHost's DNS lookup.
const lookupTimeout = 3 * time.Second

// CheckHost is the check of a URL's host (url.URL.Hostname) when a
// callback is accepted. A literal address is checked as CheckAddr does; a
// host that looks numeric but is no address in standard form (2130706433,
// 0177.0.0.1, 0x7f.1: resolvers and browsers read them as IPv4 addresses
// in their own ways) is refused; a name is refused when every address it
// resolves to is. A name that does not resolve (now) is accepted: DNS may
// differ between the gateway and the invoker, or recover, and the
// invoker's connect-time check (Control) is the one that protects.
func (p Policy) CheckHost(ctx context.Context, host string) error {
	h := strings.TrimSuffix(host, ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return p.CheckAddr(ip)
	}
	if endsInNumber(h) {
		return fmt.Errorf("%w: host %q looks like an IP address but is not one in standard form (write IPv4 as a dotted quad, like 192.0.2.1)", ErrRefused, host)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", h)
	if err != nil || len(addrs) == 0 {
		return nil
	}
	var refused error
	for _, a := range addrs {
		err := p.CheckAddr(a)
		if err == nil {
			return nil
		}
		if refused == nil {
			refused = err
		}
	}
	return fmt.Errorf("%s resolves only to addresses that may not be reached: %w", host, refused)
}

// endsInNumber is the WHATWG URL standard's test for a host that is to be
// read as an IPv4 address: its last label is decimal digits, or 0x and hex
// digits. (No top-level domain is numeric.)
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// Control is a net.Dialer ControlContext hook: it refuses a connection to
// an address the policy does not permit, after DNS resolution and before
// the connection is made, whatever name or redirect led there.
func (p Policy) Control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check %s address %q: %v", ErrRefused, network, address, err)
	}
	return p.CheckAddr(ap.Addr())
}

// HTTPClient is a client whose requests reach only what p permits: every
// address dialled is checked by Control; no proxy from the environment is
// used (the check would see only the proxy); redirects are not followed
// (the 3xx is the answer), so a receiver cannot bounce a request elsewhere.
func (p Policy) HTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, ControlContext: p.Control}).DialContext
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ParseAllowList reads a comma- or space-separated list of CIDRs and
// addresses (an address is its own /32 or /128), e.g.
// "10.20.0.0/16, fd00:1::/64, 192.168.1.10".
func ParseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil {
				p = netip.PrefixFrom(a.WithZone(""), a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("allow-list entry %q is not a CIDR or an IP address: %w", f, err)
		}
		// Addresses are compared unmapped (::ffff:10.0.0.1 is 10.0.0.1),
		// so an IPv4-mapped network is written as the IPv4 one.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
