// Package web serves the dashboard: the files built from web/ by
// `go run ./web/build` into dist/, embedded in the binary.
//
// Handler answers GET and HEAD:
//   - /assets/<name>.<hash>.<ext>: the content-hashed scripts, styles and
//     images, with Cache-Control "public, max-age=31536000, immutable"
//     (CDN-grade: a new build has new names).
//   - every other path outside /api/, /ws, /livez and /readyz: index.html
//     (the single-page app routes it), with "no-cache" and an ETag so a
//     browser or CDN revalidates it and picks up a new build at once.
//   - /api/…, /ws, /livez and /readyz, should they reach it: a JSON 404 in
//     the API's error shape; the API owns them.
//
// Every file is held in memory with its gzip and brotli forms compressed at
// build time; the form is chosen by Accept-Encoding (br, then gzip, then
// none) and Vary: Accept-Encoding is set. Responses carry a
// Content-Security-Policy that allows no inline script.
//
// A Handler is immutable after New and safe for concurrent use.
//
// It imports nothing of findash and must not import the API or the bundler
// (internal/web/bundle): it serves only files built ahead of time.
package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:generate go run ../../web/build -web ../../web -out dist

//go:embed dist
var dist embed.FS

// DefaultCSP is the Content-Security-Policy of every response: scripts,
// styles and fonts only from the own origin (no inline script), images
// also as data: URLs (chart library), connections to the own origin (which
// covers the /ws WebSocket in current browsers), no framing, no plugins.
//
// One inline <style> is allowed by its hash: the one Lightweight Charts
// injects for its TradingView attribution logo (TestCSPAllowsChartLogoStyle
// recomputes it from the bundle, so a library upgrade cannot break it
// silently).
const DefaultCSP = "default-src 'self'; script-src 'self'; " +
	"style-src 'self' '" + chartLogoStyleHash + "'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'"

// chartLogoStyleHash is the CSP hash of the attribution logo's <style>.
const chartLogoStyleHash = "sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY="

// Config tunes the Handler. The zero value is ready to use.
type Config struct {
	// CSP replaces DefaultCSP when set (e.g. to allow a CDN host or an
	// explicit wss:// origin for older browsers).
	CSP string
	// FS replaces the embedded files (tests); it must hold what
	// web/build writes: index.html, manifest.json, assets/….
	FS fs.FS
}

// file is one servable file in its encodings.
type file struct {
	name        string
	contentType string
	etag        string // strong, quoted; the same for every encoding
	raw, gz, br []byte
}

// Handler serves the dashboard. Create it with New.
type Handler struct {
	csp    string
	index  *file
	assets map[string]*file // by path under /assets/
	log    *slog.Logger
}

// New loads the built dashboard (embedded, or cfg.FS) and returns its
// handler. It fails when the files are missing or inconsistent (index.html
// or an asset of the manifest absent), which means the bundle was not built.
func New(cfg Config, log *slog.Logger) (*Handler, error) {
	fsys := cfg.FS
	if fsys == nil {
		sub, err := fs.Sub(dist, "dist")
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		fsys = sub
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{csp: cfg.CSP, assets: map[string]*file{}, log: log.With("component", "web")}
	if h.csp == "" {
		h.csp = DefaultCSP
	}
	b, err := fs.ReadFile(fsys, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("web: the dashboard is not built (go run ./web/build): %w", err)
	}
	var m struct {
		Files []struct {
			Name   string `json:"name"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("web: manifest.json: %w", err)
	}
	for _, mf := range m.Files {
		f, err := load(fsys, mf.Name, mf.SHA256)
		if err != nil {
			return nil, err
		}
		switch {
		case mf.Name == "index.html":
			h.index = f
		case strings.HasPrefix(mf.Name, "assets/"):
			h.assets[strings.TrimPrefix(mf.Name, "assets/")] = f
		}
	}
	if h.index == nil {
		return nil, errors.New("web: the manifest lists no index.html")
	}
	return h, nil
}

func load(fsys fs.FS, name, sum string) (*file, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	f := &file{name: name, raw: raw, etag: `"` + shortHash(sum) + `"`}
	// the compressed forms are optional: web/build omits those that do not pay
	if gz, err := fs.ReadFile(fsys, name+".gz"); err == nil {
		f.gz = gz
	}
	if br, err := fs.ReadFile(fsys, name+".br"); err == nil {
		f.br = br
	}
	f.contentType = mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // do not depend on the host's mime tables
	case ".js":
		f.contentType = "text/javascript; charset=utf-8"
	case ".css":
		f.contentType = "text/css; charset=utf-8"
	case ".html":
		f.contentType = "text/html; charset=utf-8"
	case ".svg":
		f.contentType = "image/svg+xml"
	}
	if f.contentType == "" {
		f.contentType = "application/octet-stream"
	}
	return f, nil
}

func shortHash(sum string) string {
	if len(sum) > 32 {
		return sum[:32]
	}
	return sum
}

// Paths the API owns: the Handler never answers them with the app.
func apiPath(p string) bool {
	return p == "/api" || strings.HasPrefix(p, "/api/") || p == "/ws" || p == "/livez" || p == "/readyz"
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if apiPath(p) {
		writeJSONError(w, http.StatusNotFound, "not_found", "no such path: "+p)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	if name, ok := strings.CutPrefix(p, "/assets/"); ok {
		f := h.assets[name]
		if f == nil {
			hd.Set("Cache-Control", "no-store")
			http.Error(w, "no such asset (the page may be older than the server: reload it)", http.StatusNotFound)
			return
		}
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.serve(w, r, f)
		return
	}
	if p == "/favicon.ico" || p == "/robots.txt" {
		// not app routes: the page links its icon; no robots rules
		hd.Set("Cache-Control", "public, max-age=86400")
		http.NotFound(w, r)
		return
	}
	// the single-page app: every other path is index.html
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	h.serve(w, r, h.index)
}

// serve writes f in the encoding the client prefers, or 304.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	hd.Add("Vary", "Accept-Encoding")
	if etagMatch(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.raw
	accept := r.Header.Get("Accept-Encoding")
	switch {
	case f.br != nil && acceptsEncoding(accept, "br"):
		body = f.br
		hd.Set("Content-Encoding", "br")
	case f.gz != nil && acceptsEncoding(accept, "gzip"):
		body = f.gz
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(body); err != nil {
		h.log.Debug("write response", "path", r.URL.Path, "err", err)
	}
}

// etagMatch reports whether an If-None-Match header lists etag (weak
// comparison, as RFC 9110 asks for If-None-Match) or is "*".
func etagMatch(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		t := strings.TrimSpace(part)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// acceptsEncoding reports whether an Accept-Encoding header accepts enc
// with a non-zero quality (explicitly, or through "*").
func acceptsEncoding(header, enc string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		switch name = strings.ToLower(strings.TrimSpace(name)); name {
		case enc:
			return q > 0
		case "*":
			star = q > 0
		}
	}
	return star
}

func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
