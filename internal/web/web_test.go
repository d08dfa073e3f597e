package web_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
	"github.com/findash/findash/internal/web"
	"github.com/findash/findash/internal/web/bundle"
)

func newHandler(t *testing.T) (*web.Handler, bundle.Manifest) {
	t.Helper()
	h, err := web.New(web.Config{}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var m bundle.Manifest
	b, err := os.ReadFile("dist/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return h, m
}

func do(h http.Handler, method, target string, hdr map[string]string) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func decode(t *testing.T, res *http.Response) []byte {
	t.Helper()
	var r io.Reader = res.Body
	switch res.Header.Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(res.Body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

func TestIndexAndFallback(t *testing.T) {
	h, m := newHandler(t)
	index, err := os.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/s/BTC-USD", "/s/EUR%2FUSD", "/s/EUR/USD", "/s/BRK.B?interval=5m", "/no/such/page"} {
		t.Run(path, func(t *testing.T) {
			res := do(h, "GET", path, map[string]string{"Accept-Encoding": "gzip, deflate, br"})
			if res.StatusCode != 200 {
				t.Fatalf("GET %s = %d, want 200", path, res.StatusCode)
			}
			hd := res.Header
			for k, want := range map[string]string{
				"Content-Type":     "text/html; charset=utf-8",
				"Cache-Control":    "no-cache",
				"Content-Encoding": "br",
				"Vary":             "Accept-Encoding",
			} {
				if got := hd.Get(k); got != want {
					t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
				}
			}
			if hd.Get("ETag") == "" {
				t.Errorf("GET %s: no ETag", path)
			}
			csp := hd.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("GET %s: CSP = %q, want script-src 'self' without unsafe-*", path, csp)
			}
			body := decode(t, res)
			if !bytes.Equal(body, index) {
				t.Errorf("GET %s: body is not index.html", path)
			}
			if !bytes.Contains(body, []byte(`<script type="module" src="/`+m.Entry+`">`)) {
				t.Errorf("GET %s: index.html does not load %s", path, m.Entry)
			}
			if bytes.Contains(body, []byte("<script>")) || bytes.Contains(body, []byte(" style=")) {
				t.Errorf("GET %s: index.html has inline script or style", path)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	h, m := newHandler(t)
	raw, err := os.ReadFile("dist/" + m.Entry)
	if err != nil {
		t.Fatal(err)
	}
	target := "/" + m.Entry
	tests := []struct {
		name, accept, wantEnc string
	}{
		{"identity", "", ""},
		{"gzip", "gzip", "gzip"},
		{"brotli preferred", "gzip, deflate, br, zstd", "br"},
		{"brotli refused", "br;q=0, gzip;q=0.5", "gzip"},
		{"star", "*", "br"},
		{"star but not br", "br;q=0, *", "gzip"},
		{"nothing acceptable", "deflate", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(h, "GET", target, map[string]string{"Accept-Encoding": tt.accept})
			if res.StatusCode != 200 {
				t.Fatalf("GET %s = %d", target, res.StatusCode)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.wantEnc {
				t.Errorf("Accept-Encoding %q: Content-Encoding = %q, want %q", tt.accept, got, tt.wantEnc)
			}
			if got, want := res.Header.Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			if got, want := res.Header.Get("Content-Type"), "text/javascript; charset=utf-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if body := decode(t, res); !bytes.Equal(body, raw) {
				t.Errorf("Accept-Encoding %q: body differs from dist/%s", tt.accept, m.Entry)
			}
		})
	}
	css := do(h, "GET", "/"+m.Style, nil)
	if got := css.Header.Get("Content-Type"); got != "text/css; charset=utf-8" {
		t.Errorf("GET /%s: Content-Type = %q", m.Style, got)
	}
}

func TestConditionalAndErrors(t *testing.T) {
	h, m := newHandler(t)
	first := do(h, "GET", "/", nil)
	etag := first.Header.Get("ETag")
	tests := []struct {
		name, method, target string
		hdr                  map[string]string
		status               int
		json                 bool
	}{
		{"index 304", "GET", "/", map[string]string{"If-None-Match": etag}, 304, false},
		{"index weak 304", "GET", "/s/AAPL", map[string]string{"If-None-Match": `"x", W/` + etag}, 304, false},
		{"index other etag", "GET", "/", map[string]string{"If-None-Match": `"other"`}, 200, false},
		{"asset 304", "GET", "/" + m.Entry, map[string]string{"If-None-Match": "*"}, 304, false},
		{"head", "HEAD", "/", nil, 200, false},
		{"missing asset", "GET", "/assets/app.OLDHASH.js", nil, 404, false},
		{"post", "POST", "/", nil, 405, false},
		{"favicon.ico", "GET", "/favicon.ico", nil, 404, false},
		{"api path", "GET", "/api/v1/nope", nil, 404, true},
		{"api root", "GET", "/api", nil, 404, true},
		{"ws", "GET", "/ws", nil, 404, true},
		{"readyz", "GET", "/readyz", nil, 404, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(h, tt.method, tt.target, tt.hdr)
			if res.StatusCode != tt.status {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.target, res.StatusCode, tt.status)
			}
			body, _ := io.ReadAll(res.Body)
			if tt.json {
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "not_found" {
					t.Errorf("%s %s: body %q, want a JSON not_found error", tt.method, tt.target, body)
				}
			}
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD sent a body of %d bytes", len(body))
			}
			if tt.status == 304 && res.Header.Get("ETag") == "" {
				t.Errorf("304 without ETag")
			}
		})
	}
	if got := do(h, "POST", "/", nil).Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("405 Allow = %q, want %q", got, "GET, HEAD")
	}
}

func TestNewRejectsMissingBuild(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"empty":         {},
		"bad manifest":  {"manifest.json": {Data: []byte("{")}},
		"missing file":  {"manifest.json": {Data: []byte(`{"files":[{"name":"index.html"}]}`)}},
		"no index.html": {"manifest.json": &fstest.MapFile{Data: []byte(`{"files":[{"name":"assets/a.js"}]}`)}, "assets/a.js": &fstest.MapFile{Data: []byte("x")}},
	}
	for name, fsys := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := web.New(web.Config{FS: fsys}, nil); err == nil {
				t.Errorf("New(%s) = nil error, want one", name)
			}
		})
	}
}

func TestCustomCSP(t *testing.T) {
	h, err := web.New(web.Config{CSP: "default-src 'self' https://cdn.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := do(h, "GET", "/", nil).Header.Get("Content-Security-Policy"); got != "default-src 'self' https://cdn.example" {
		t.Errorf("CSP = %q, want the configured one", got)
	}
}

// TestCSPAllowsChartLogoStyle recomputes the hash of the <style> the chart
// library injects for its attribution logo and checks DefaultCSP allows it.
func TestCSPAllowsChartLogoStyle(t *testing.T) {
	_, m := newHandler(t)
	re := regexp.MustCompile(`innerText="(a#tv-attr-logo\{[^"]*)"`)
	found := 0
	for _, f := range m.Files {
		if !strings.HasSuffix(f.Name, ".js") {
			continue
		}
		b, err := os.ReadFile("dist/" + f.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range re.FindAllSubmatch(b, -1) {
			found++
			sum := sha256.Sum256(sub[1])
			hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(web.DefaultCSP, hash) {
				t.Errorf("DefaultCSP lacks %s, the hash of the chart logo style in %s", hash, f.Name)
			}
		}
	}
	if found != 1 {
		t.Errorf("found the chart logo style %d times in the bundle, want 1 (did the library change?)", found)
	}
}
