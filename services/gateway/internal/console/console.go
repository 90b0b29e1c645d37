// Package console serves the web console (web/, built by `make web` into
// dist/) from the gateway's binary. The console is a single-page app: any
// GET for a path that is not a file answers index.html, and the app routes
// on the client.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var files embed.FS

// notBuilt answers when the binary was built without the console (a plain
// `go build` on a fresh clone): the API works, the console says how to get it.
const notBuilt = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>EventFlow</title></head>
<body style="background:#0b0f17;color:#e5e7eb;font-family:sans-serif;padding:2rem">
<h1>EventFlow</h1><p>The web console is not in this build. Build it with <code>make build</code>
(it runs <code>npm ci</code> and <code>npm run build</code> in <code>web/</code>), then restart.</p>
<p>The API is served as usual: see <a style="color:#93c5fd" href="/openapi.json">/openapi.json</a>.</p></body></html>`

// Console serves the embedded build.
type Console struct {
	dist  fs.FS
	index []byte
	built bool
}

// New serves the build embedded in the binary.
func New() *Console {
	dist, err := fs.Sub(files, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return FromFS(dist)
}

// FromFS serves the build in dist (a directory holding index.html).
func FromFS(dist fs.FS) *Console {
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		return &Console{dist: dist, index: []byte(notBuilt)}
	}
	return &Console{dist: dist, index: index, built: true}
}

// Built reports whether the console's build is embedded.
func (c *Console) Built() bool { return c.built }

// ServeHTTP serves a file of the build, or index.html for the app's routes.
// Vite names assets by content hash, so they may be cached for good; the
// index must not be, or a new build would not be picked up.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name != "" && name != "index.html" {
		if f, err := fs.Stat(c.dist, name); err == nil && !f.IsDir() {
			if strings.HasPrefix(name, "assets/") {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			http.ServeFileFS(w, r, c.dist, name)
			return
		}
		// A missing asset is a 404, not the app: a stale page asking for an
		// old bundle must fail visibly rather than parse HTML as JavaScript.
		if path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(c.index))
}
