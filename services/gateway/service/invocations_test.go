package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/testkit"
)

type invocationPage struct {
	Items []struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"createdAt"`
	} `json:"items"`
	Next string `json:"next"`
}

// TestInvocationHistoryPagesInTimeOrder: invocations made with and without
// an Idempotency-Key, interleaved, are listed newest first in the order
// they were made, and paging through them with a small limit sees each
// exactly once. (An Idempotency-Key used to make the id a hash of the key,
// which sorted anywhere among the time-ordered ids.)
func TestInvocationHistoryPagesInTimeOrder(t *testing.T) {
	f := start(t)
	if resp, body := f.do(t, "POST", "/v1/functions", `{"name":"hist","command":["cat"]}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	const n = 16
	made := make([]string, 0, n)
	for i := range n {
		var hdr []string
		if i%2 == 0 || i%5 == 0 {
			hdr = []string{"Idempotency-Key", fmt.Sprintf("order-%d", i)}
		}
		resp, body := f.do(t, "POST", "/v1/functions/hist:invoke?async=true", "x", hdr...)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("invoke %d: %d %s", i, resp.StatusCode, body)
		}
		made = append(made, resp.Header.Get("X-Invocation-Id"))
		// Ids order by the millisecond they were made in: one each.
		time.Sleep(3 * time.Millisecond)
	}

	// The same key again is the same invocation, not a new entry.
	resp, body := f.do(t, "POST", "/v1/functions/hist:invoke?async=true", "x", "Idempotency-Key", "order-4")
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "true" || resp.Header.Get("X-Invocation-Id") != made[4] {
		t.Fatalf("repeated key: %d %s, id %s replayed %q; want 202 with id %s, replayed", resp.StatusCode, body,
			resp.Header.Get("X-Invocation-Id"), resp.Header.Get("Idempotent-Replayed"), made[4])
	}

	want := slices.Clone(made)
	slices.Reverse(want) // newest first
	for _, limit := range []int{1, 3, 5, n, 1000} {
		var seen []string
		var created []time.Time
		before := ""
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatalf("limit=%d: more than %d pages", limit, n)
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if before != "" {
				q.Set("before", before)
			}
			resp, body := f.do(t, "GET", "/v1/functions/hist/invocations?"+q.Encode(), "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("limit=%d before=%s: %d %s", limit, before, resp.StatusCode, body)
			}
			p := decode[invocationPage](t, body)
			if len(p.Items) > limit {
				t.Fatalf("limit=%d: a page of %d", limit, len(p.Items))
			}
			for _, it := range p.Items {
				seen = append(seen, it.ID)
				created = append(created, it.CreatedAt)
			}
			if p.Next == "" {
				break
			}
			before = p.Next
		}
		if !slices.Equal(seen, want) {
			t.Fatalf("limit=%d: paged through\n%v\nwant, newest first,\n%v", limit, seen, want)
		}
		if !slices.IsSortedFunc(created, func(a, b time.Time) int { return b.Compare(a) }) {
			t.Fatalf("limit=%d: createdAt not newest first: %v", limit, created)
		}
	}
}

// TestIdempotencyKeyConcurrentAndLegacy: requests with one Idempotency-Key
// at once get one id and queue one invocation; a key that named its
// invocation by the key's hash (before ids were time-ordered) still finds it.
func TestIdempotencyKeyConcurrentAndLegacy(t *testing.T) {
	f := start(t)
	if resp, body := f.do(t, "POST", "/v1/functions", `{"name":"once","command":["cat"]}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	const n = 10
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", f.srv.URL+"/v1/functions/once:invoke?async=true", strings.NewReader("x"))
			req.Header.Set("Authorization", "Bearer "+f.token)
			req.Header.Set("Idempotency-Key", "same")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("request %d: %d", i, resp.StatusCode)
			}
			ids[i] = resp.Header.Get("X-Invocation-Id")
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || !events.ValidInvocationID(id) {
			t.Fatalf("ids %v: want one", ids)
		}
	}
	if m := testkit.StreamState(t, f.js, events.StreamInvocations).Msgs; m != 1 {
		t.Fatalf("%d invocations queued, want 1", m)
	}

	// A record under the key's hash, as an earlier version wrote it.
	legacy := events.LegacyIdempotentInvocationID("acme", "once", "old-key")
	kv, err := f.js.KeyValue(context.Background(), events.BucketInvocations)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(events.InvocationRecord{ID: legacy, Tenant: "acme", Function: "once", Async: true, Status: events.StatusSucceeded, CreatedAt: time.Now().UTC()})
	if _, err := kv.Put(context.Background(), events.InvocationKey("acme", "once", legacy), rec); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "POST", "/v1/functions/once:invoke?async=true", "x", "Idempotency-Key", "old-key")
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Invocation-Id") != legacy || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("legacy key: %d %s id %s", resp.StatusCode, body, resp.Header.Get("X-Invocation-Id"))
	}
	if m := testkit.StreamState(t, f.js, events.StreamInvocations).Msgs; m != 1 {
		t.Fatalf("%d invocations queued after the legacy replay, want 1", m)
	}
}
