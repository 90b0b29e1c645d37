package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, c *Console, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestServesTheBuildAndFallsBackToTheApp(t *testing.T) {
	c := FromFS(fstest.MapFS{
		"index.html":         {Data: []byte(`<div id="root"></div>`)},
		"assets/app-abc.js":  {Data: []byte(`console.log(1)`)},
		"favicon.svg":        {Data: []byte(`<svg/>`)},
		"assets/nested/x.js": {Data: []byte(`x`)},
	})
	if !c.Built() {
		t.Fatal("Built() = false with an index.html")
	}
	for _, tc := range []struct {
		path, body, cache string
		code              int
	}{
		{"/", `<div id="root">`, "no-cache", 200},
		{"/functions/upper", `<div id="root">`, "no-cache", 200}, // a client-side route
		{"/index.html", `<div id="root">`, "no-cache", 200},
		{"/assets/app-abc.js", "console.log", "immutable", 200},
		{"/favicon.svg", "<svg/>", "", 200},
		{"/assets/old-123.js", "404", "", 404}, // a stale bundle must not get HTML
		{"/../../etc/passwd", `<div id="root">`, "no-cache", 200},
	} {
		w := get(t, c, tc.path)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, w.Code, w.Body.String(), tc.code, tc.body)
		}
		if tc.cache != "" && !strings.Contains(w.Header().Get("Cache-Control"), tc.cache) {
			t.Errorf("GET %s Cache-Control = %q, want %q", tc.path, w.Header().Get("Cache-Control"), tc.cache)
		}
	}
}

func TestSaysHowToBuildWhenNotBuilt(t *testing.T) {
	c := FromFS(fstest.MapFS{".gitkeep": {}})
	if c.Built() {
		t.Fatal("Built() = true without an index.html")
	}
	w := get(t, c, "/")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "make build") {
		t.Fatalf("GET / = %d %q, want the not-built page", w.Code, w.Body.String())
	}
}
