// Package testkit holds the test fixtures that tests of several EventFlow
// packages and modules share: waiting for a condition, a free loopback
// address, HS256 signers and the tokens they mint, an API call with a
// bearer token, and the state of a JetStream stream. The embedded NATS JetStream server those tests run
// against is natstest's (pkg/natsserver/natstest).
//
// It is for tests only: every helper fails the test it is given instead of
// returning an error.
package testkit

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/auth"
)

// pollEvery is how often Eventually and WaitFor try their condition again.
const pollEvery = 25 * time.Millisecond

// Eventually polls cond until it holds, and fails the test when it still
// does not after within; the failure names what and the state cond gave
// last.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() (ok bool, state string)) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s; last: %s", what, within, state)
		}
		time.Sleep(pollEvery)
	}
}

// WaitFor is Eventually for a condition with no state to report.
func WaitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(pollEvery)
	}
}

// FreeAddr is a loopback address (host:port) whose port was free a moment
// ago, for a server the test starts itself.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// SignerKey is the HS256 key of Signer: 32 bytes, the least NewHS256
// takes.
var SignerKey = []byte(strings.Repeat("k", 32))

// Signer is an HS256 signer and verifier over SignerKey; every Signer
// verifies the tokens of every other.
func Signer(tb testing.TB) *auth.HS256 {
	tb.Helper()
	s, err := auth.NewHS256(SignerKey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Token is a token signed by s for tenant with scopes; with no scopes, it
// has every scope.
func Token(tb testing.TB, s *auth.HS256, tenant string, scopes ...string) string {
	tb.Helper()
	tok, _, err := s.Issue(auth.TokenRequest{Tenant: tenant, Scopes: scopes})
	if err != nil {
		tb.Fatalf("issue a token for %s: %v", tenant, err)
	}
	return tok
}

// StreamState is the state of stream as the server has it now (messages,
// consumers, sequences).
func StreamState(tb testing.TB, js jetstream.JetStream, stream string) jetstream.StreamState {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State
}

// callWithin bounds a Call: a response that never ends fails the test
// instead of hanging it.
const callWithin = 30 * time.Second

// Call sends method url with body, "Authorization: Bearer token" (none
// when token is empty) and headers (name, value pairs), and reads the whole
// answer; the response's body is read and closed.
func Call(tb testing.TB, method, url, token, body string, hdr ...string) (*http.Response, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callWithin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: the response did not end: %v (read so far: %q)", method, url, err, b)
	}
	return resp, string(b)
}
