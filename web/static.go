package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// staticPrefix is where the assets are served.
const staticPrefix = "/static/"

// assets are the embedded files, each with a strong ETag of its content;
// the stylesheet is linked with its hash in the query, so that it can be
// cached for a year and still change with a new build.
type assets struct {
	files   map[string]asset // by name under static/
	cssURL  string
	iconURL string
}

type asset struct {
	data  []byte
	etag  string
	ctype string
}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := "application/octet-stream"
		switch path.Ext(p) {
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		a.files[strings.TrimPrefix(p, "static/")] = asset{data: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.cssURL = staticPrefix + "style.css?v=" + strings.Trim(a.files["style.css"].etag, `"`)
	a.iconURL = staticPrefix + "icon.svg?v=" + strings.Trim(a.files["icon.svg"].etag, `"`)
	return a, nil
}

// serveStatic serves an embedded asset with long-lived cache headers and
// its ETag, so that a browser revalidates it with a 304.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, ok := h.static.files[strings.TrimPrefix(r.URL.Path, staticPrefix)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}
