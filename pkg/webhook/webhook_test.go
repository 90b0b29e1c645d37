package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector: matching it
// is what lets a receiver verify with any of the specification's libraries.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorKey(t testing.TB) []byte {
	t.Helper()
	key, err := DecodeSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestSignMatchesTheSpecificationsVector(t *testing.T) {
	key := vectorKey(t)
	if got := Sign(key, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("Sign = %s, want %s", got, vectorSignature)
	}
	if EncodeSecret(key) != vectorSecret {
		t.Fatalf("EncodeSecret = %s", EncodeSecret(key))
	}
	h := http.Header{}
	h.Set("Webhook-Id", vectorID) // header names in any case
	h.Set(HeaderTimestamp, strconv.Itoa(vectorTimestamp))
	h.Set(HeaderSignature, vectorSignature)
	if err := VerifyAt(key, h, []byte(vectorBody), time.Unix(vectorTimestamp+10, 0), DefaultTolerance); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeSecret(t *testing.T) {
	withPrefix, err1 := DecodeSecret(vectorSecret)
	without, err2 := DecodeSecret(strings.TrimPrefix(vectorSecret, SecretPrefix))
	if err1 != nil || err2 != nil || string(withPrefix) != string(without) || len(withPrefix) != 24 {
		t.Fatalf("%x %v, %x %v", withPrefix, err1, without, err2)
	}
	for _, bad := range []string{"", "whsec_", "whsec_not base64!", "whsec_@@@@"} {
		if _, err := DecodeSecret(bad); !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("DecodeSecret(%q): %v", bad, err)
		}
	}
}

func TestVerify(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	other := []byte("another key, another tenant.....")
	body := []byte(`{"id":"0193a5f0","status":"succeeded"}`)
	now := time.Unix(1_700_000_000, 0)
	signed := func(id string, at time.Time, b []byte) http.Header {
		h := http.Header{}
		SetHeaders(h, key, id, at, b)
		return h
	}
	with := func(h http.Header, name, value string) http.Header {
		h = h.Clone()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	good := signed("inv-1", now, body)
	old := signed("inv-1", now.Add(-6*time.Minute), body)
	for _, c := range []struct {
		name string
		key  []byte
		h    http.Header
		body []byte
		want error
	}{
		{"as signed", key, good, body, nil},
		{"4m59s old", key, signed("inv-1", now.Add(-299*time.Second), body), body, nil},
		{"4m59s ahead", key, signed("inv-1", now.Add(299*time.Second), body), body, nil},
		// Replays: the same message later, or its signature on another id or time.
		{"6 minutes old (a replay)", key, old, body, ErrTimestampTooOld},
		{"6 minutes ahead", key, signed("inv-1", now.Add(6*time.Minute), body), body, ErrTimestampTooNew},
		{"an old signature with a fresh timestamp", key, with(old, HeaderTimestamp, strconv.FormatInt(now.Unix(), 10)), body, ErrNoMatchingSignature},
		{"the signature of another id", key, with(good, HeaderID, "inv-2"), body, ErrNoMatchingSignature},
		{"the signature of another timestamp", key, with(good, HeaderTimestamp, strconv.FormatInt(now.Unix()-1, 10)), body, ErrNoMatchingSignature},
		{"another body", key, good, []byte(`{"id":"0193a5f0","status":"failed"}`), ErrNoMatchingSignature},
		{"another key", other, good, body, ErrNoMatchingSignature},
		{"no key", nil, good, body, ErrInvalidSecret},
		{"no id", key, with(good, HeaderID, ""), body, ErrMissingHeader},
		{"no timestamp", key, with(good, HeaderTimestamp, ""), body, ErrMissingHeader},
		{"no signature", key, with(good, HeaderSignature, ""), body, ErrMissingHeader},
		{"a timestamp with a sign", key, with(good, HeaderTimestamp, "+"+strconv.FormatInt(now.Unix(), 10)), body, ErrInvalidTimestamp},
		{"a timestamp in milliseconds", key, with(good, HeaderTimestamp, strconv.FormatInt(now.UnixMilli(), 10)), body, ErrTimestampTooNew},
		{"a timestamp that is not a number", key, with(good, HeaderTimestamp, "yesterday"), body, ErrInvalidTimestamp},
		{"a timestamp past int64", key, with(good, HeaderTimestamp, "9999999999999999999"), body, ErrInvalidTimestamp},
		{"an unknown version", key, with(good, HeaderSignature, "v2,"+strings.TrimPrefix(good.Get(HeaderSignature), "v1,")), body, ErrNoMatchingSignature},
		{"no version", key, with(good, HeaderSignature, strings.TrimPrefix(good.Get(HeaderSignature), "v1,")), body, ErrNoMatchingSignature},
		{"not base64", key, with(good, HeaderSignature, "v1,!!!"), body, ErrNoMatchingSignature},
		// Several signatures (a key rotation): one match is enough.
		{"one of several", key, with(good, HeaderSignature, "v1,AAAA v1a,ed25519stuff "+good.Get(HeaderSignature)), body, nil},
		{"none of several", key, with(good, HeaderSignature, "v1,AAAA v1,BBBB"), body, ErrNoMatchingSignature},
	} {
		err := VerifyAt(c.key, c.h, c.body, now, DefaultTolerance)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Verify is VerifyAt now, with the default tolerance.
	h := http.Header{}
	SetHeaders(h, key, "inv-1", time.Now(), body)
	if err := Verify(key, h, body); err != nil {
		t.Errorf("Verify of a fresh message: %v", err)
	}
	SetHeaders(h, key, "inv-1", time.Now().Add(-DefaultTolerance-time.Minute), body)
	if err := Verify(key, h, body); !errors.Is(err, ErrTimestampTooOld) {
		t.Errorf("Verify of a stale message: %v", err)
	}
}

// FuzzVerify: no input makes Verify panic, a message it accepts carries the
// expected signature within the tolerance, and what Sign signs verifies.
func FuzzVerify(f *testing.F) {
	key := []byte("fuzz key: 32 bytes of something!")
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := Sign(key, "inv-1", now, []byte(`{"a":1}`))
	f.Add("inv-1", ts, good, []byte(`{"a":1}`))
	f.Add("inv-1", ts, "v1,AAAA "+good, []byte(`{"a":1}`))
	f.Add("inv-1", ts, good+" v1,AAAA", []byte(`{"a":2}`))
	f.Add(vectorID, strconv.Itoa(vectorTimestamp), vectorSignature, []byte(vectorBody))
	f.Add("", "", "", []byte(nil))
	f.Add("x", "-1", "v1,", []byte("x"))
	f.Add("x", "00000000000000000001700000000", "v1 ,,, v1,=== v2,abc", []byte{0xff})
	f.Add("a.b", "1700000000.5", "v1,"+strings.Repeat("A", 4096), []byte("."))
	f.Add("inv-1", "1700000300", "\tv1,x\nv1,y  v1,z", []byte{})
	f.Fuzz(func(t *testing.T, id, timestamp, signatures string, body []byte) {
		err := VerifyValues(key, id, timestamp, signatures, body, now, DefaultTolerance)
		if err == nil {
			n, perr := strconv.ParseInt(timestamp, 10, 64)
			if perr != nil || n < now.Unix()-300 || n > now.Unix()+300 {
				t.Fatalf("accepted timestamp %q", timestamp)
			}
			want := "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp, body))
			if !slices.Contains(strings.Fields(signatures), want) {
				t.Fatalf("accepted %q without the expected signature of %q.%q", signatures, id, timestamp)
			}
		}
		// What is signed now verifies, unless the id is empty.
		at := now.Add(-time.Minute)
		err = VerifyValues(key, id, strconv.FormatInt(at.Unix(), 10), Sign(key, id, at, body), body, now, DefaultTolerance)
		if (err == nil) != (id != "") {
			t.Fatalf("a fresh signature of id %q: %v", id, err)
		}
	})
}
