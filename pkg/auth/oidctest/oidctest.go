// Package oidctest runs a minimal OpenID Connect provider for tests: a real
// HTTP server on 127.0.0.1 serving a discovery document and a key set (JWKS)
// of real RSA and ECDSA keys, which signs tokens with them and counts how
// often each document is fetched.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Provider is a running test identity provider.
type Provider struct {
	srv *httptest.Server
	// Issuer is the provider's issuer URL (the server's base URL).
	Issuer string

	discoveryHits, jwksHits atomic.Int64
	failDiscovery           atomic.Int64
	hold                    atomic.Pointer[holdKeySet]

	mu        sync.Mutex
	keys      map[string]crypto.Signer // every key ever made, by kid
	published []string                 // kids in the key set
	docIssuer string                   // issuer named by the discovery document
	jwksURI   string                   // key set named by the discovery document
}

// Start runs a provider until the test ends. It publishes no keys yet.
func Start(tb testing.TB) *Provider { return start(tb, httptest.NewServer) }

// StartTLS is Start over HTTPS (a test certificate: fetch with Client).
func StartTLS(tb testing.TB) *Provider { return start(tb, httptest.NewTLSServer) }

func start(tb testing.TB, newServer func(http.Handler) *httptest.Server) *Provider {
	tb.Helper()
	p := &Provider{keys: map[string]crypto.Signer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	p.srv = newServer(mux)
	tb.Cleanup(p.srv.Close)
	p.Issuer = p.srv.URL
	p.docIssuer = p.Issuer
	p.jwksURI = p.srv.URL + "/jwks"
	return p
}

// Client is an HTTP client that trusts the provider's certificate.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// SetJWKSURI makes the discovery document point at uri for the key set.
func (p *Provider) SetJWKSURI(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksURI = uri
}

// Close stops the server.
func (p *Provider) Close() { p.srv.Close() }

// PublicKey is the public half of key kid.
func (p *Provider) PublicKey(kid string) crypto.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid].Public()
}

// DiscoveryHits and JWKSHits count the requests for each document.
func (p *Provider) DiscoveryHits() int64 { return p.discoveryHits.Load() }

// JWKSHits counts the requests for the key set.
func (p *Provider) JWKSHits() int64 { return p.jwksHits.Load() }

// FailDiscovery makes the next n discovery requests answer 503.
func (p *Provider) FailDiscovery(n int) { p.failDiscovery.Store(int64(n)) }

// SetDocumentIssuer makes the discovery document name issuer instead of
// the provider's own URL.
func (p *Provider) SetDocumentIssuer(issuer string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.docIssuer = issuer
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.discoveryHits.Add(1)
	if p.failDiscovery.Add(-1) >= 0 {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	p.mu.Lock()
	iss, jwksURI := p.docIssuer, p.jwksURI
	p.mu.Unlock()
	writeJSON(w, map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              jwksURI,
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
	})
}

// holdKeySet keeps key-set requests waiting (see HoldKeySet).
type holdKeySet struct {
	arrived chan struct{} // closed by the first held request
	once    sync.Once
	release chan struct{}
}

// HoldKeySet makes key-set requests wait until release is called (or the
// request is cancelled), like a provider that hangs; arrived is closed once
// the first of them is waiting. Release is idempotent.
func (p *Provider) HoldKeySet() (arrived <-chan struct{}, release func()) {
	h := &holdKeySet{arrived: make(chan struct{}), release: make(chan struct{})}
	p.hold.Store(h)
	return h.arrived, sync.OnceFunc(func() {
		p.hold.CompareAndSwap(h, nil)
		close(h.release)
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.jwksHits.Add(1)
	if h := p.hold.Load(); h != nil {
		h.once.Do(func() { close(h.arrived) })
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
	}
	p.mu.Lock()
	keys := []map[string]string{}
	for _, kid := range p.published {
		keys = append(keys, JWK(kid, p.keys[kid].Public()))
	}
	p.mu.Unlock()
	writeJSON(w, map[string]any{"keys": keys})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// NewRSAKey makes a 2048-bit RSA key named kid and publishes it.
func (p *Provider) NewRSAKey(tb testing.TB, kid string) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	p.add(kid, k)
	return k
}

// NewECKey makes a P-256 key named kid and publishes it.
func (p *Provider) NewECKey(tb testing.TB, kid string) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	p.add(kid, k)
	return k
}

func (p *Provider) add(kid string, k crypto.Signer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[kid] = k
	p.published = append(p.published, kid)
}

// Unpublish removes kid from the key set; the provider can still sign with
// it.
func (p *Provider) Unpublish(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = slices.DeleteFunc(p.published, func(k string) bool { return k == kid })
}

// Sign signs claims with the key kid: RS256 for RSA keys, ES256 for ECDSA
// keys; the header carries kid.
func (p *Provider) Sign(tb testing.TB, kid string, claims jwt.Claims) string {
	tb.Helper()
	p.mu.Lock()
	k, ok := p.keys[kid]
	p.mu.Unlock()
	if !ok {
		tb.Fatalf("oidctest: no key %q", kid)
	}
	m := jwt.SigningMethod(jwt.SigningMethodRS256)
	if _, ok := k.(*ecdsa.PrivateKey); ok {
		m = jwt.SigningMethodES256
	}
	t := jwt.NewWithClaims(m, claims)
	t.Header["kid"] = kid
	s, err := t.SignedString(k)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is the JSON Web Key of an RSA or P-256 public key.
func JWK(kid string, pub crypto.PublicKey) map[string]string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			panic(err)
		}
		return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
			"x": b64(b[1:33]), "y": b64(b[33:])}
	}
	panic("oidctest: unsupported key type")
}
