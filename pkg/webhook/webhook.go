// Package webhook signs and verifies HTTP callbacks as the Standard
// Webhooks specification (https://www.standardwebhooks.com/) does:
//
//	webhook-id:        the message's id, the same on every retry of it
//	webhook-timestamp: when this attempt was signed, in Unix seconds
//	webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">
//
// The signature covers the id and the time as well as the body, so a
// captured callback cannot be replayed later (the timestamp is outside the
// receiver's tolerance) nor passed off as another message. Several
// signatures may be sent, space-separated (a key rotation); one match is
// enough. A key is written "whsec_" + base64 of its bytes.
//
// The package has no dependencies beyond the standard library, so
// receivers can copy it.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers (HTTP header names are case-insensitive).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts a key written as a string.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a timestamp may be from the receiver's clock,
// either way, as the specification recommends.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify. Every one means: do not act on the request (answer 4xx).
var (
	ErrMissingHeader       = errors.New("webhook: missing header")
	ErrInvalidTimestamp    = errors.New("webhook: invalid timestamp")
	ErrTimestampTooOld     = errors.New("webhook: timestamp too old")
	ErrTimestampTooNew     = errors.New("webhook: timestamp too far in the future")
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
	ErrInvalidSecret       = errors.New("webhook: invalid secret")
)

// EncodeSecret writes key as "whsec_<base64>".
func EncodeSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// DecodeSecret reads a key written by EncodeSecret (the prefix may be left
// out).
func DecodeSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%w: want whsec_ and base64", ErrInvalidSecret)
	}
	return key, nil
}

// Sign is the webhook-signature value of a message: "v1," and the base64
// HMAC-SHA256, keyed with key, of "{id}.{timestamp}.{body}".
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SetHeaders sets the three headers of a message on h, signed at ts.
func SetHeaders(h http.Header, key []byte, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(key, id, ts, body))
}

// Verify checks a received message's headers against its body (the raw
// bytes, before any parsing), now, with DefaultTolerance.
func Verify(key []byte, h http.Header, body []byte) error {
	return VerifyAt(key, h, body, time.Now(), DefaultTolerance)
}

// VerifyAt is Verify at the time now, with a tolerance of its own.
func VerifyAt(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	return VerifyValues(key, h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body, now, tolerance)
}

// maxSignatures bounds the signatures looked at in one header.
const maxSignatures = 16

// VerifyValues is VerifyAt with the three header values given one by one.
// The timestamp is checked first, so a stale message is refused as stale;
// then each "v1," signature is compared, in constant time, with the
// expected one; other versions are skipped.
func VerifyValues(key []byte, id, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalidSecret)
	}
	for _, h := range [...]struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, timestamp}, {HeaderSignature, signatures}} {
		if h.value == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, h.name)
		}
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	tol := int64(tolerance / time.Second)
	switch age := now.Unix() - ts; {
	case age > tol:
		return fmt.Errorf("%w: signed %ds ago, tolerance %s", ErrTimestampTooOld, age, tolerance)
	case -age > tol:
		return fmt.Errorf("%w: signed %ds ahead, tolerance %s", ErrTimestampTooNew, -age, tolerance)
	}
	want := mac(key, id, timestamp, body)
	for i, s := range strings.Fields(signatures) {
		if i == maxSignatures {
			break
		}
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// parseTimestamp reads Unix seconds: decimal digits only (no sign, no
// spaces), as the sender writes them.
func parseTimestamp(s string) (int64, error) {
	if len(s) > 19 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: %q is not Unix seconds", ErrInvalidTimestamp, s)
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v", ErrInvalidTimestamp, s, err)
	}
	return ts, nil
}
