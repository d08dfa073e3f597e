package web_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/findash/findash/internal/web/bundle"
)

const webDir = "../../web"

// fix is what to run when a check here fails.
const fix = "the committed bundle is stale: run `go run ./web/build` (after `npm ci` in web/) and commit internal/web/dist"

func distFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir("dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("dist", p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("read dist: %v", err)
	}
	return files
}

// TestBundleSourcesUnchanged needs no node_modules: every source the
// committed build read (web/src, package-lock.json, and the chart library
// when installed) must still hash to what its manifest recorded.
func TestBundleSourcesUnchanged(t *testing.T) {
	var m bundle.Manifest
	b, err := os.ReadFile("dist/manifest.json")
	if err != nil {
		t.Fatalf("%v (%s)", err, fix)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if len(m.Inputs) == 0 {
		t.Fatalf("manifest lists no inputs; %s", fix)
	}
	for _, in := range slices.Sorted(maps.Keys(m.Inputs)) {
		b, err := os.ReadFile(filepath.Join(webDir, filepath.FromSlash(in)))
		if err != nil {
			if strings.HasPrefix(in, "node_modules/") && os.IsNotExist(err) {
				continue // not installed here; TestBundleUpToDate covers it where it is
			}
			t.Errorf("input %s: %v; %s", in, err, fix)
			continue
		}
		if got := bundle.Hash(b); got != m.Inputs[in] {
			t.Errorf("input %s changed since the bundle was built; %s", in, fix)
		}
	}
	// a new source file must be imported by one already listed, which then changed;
	// but a stray .ts beside them is worth a word
	srcs, _ := filepath.Glob(filepath.Join(webDir, "src", "*"))
	for _, s := range srcs {
		rel := "src/" + filepath.Base(s)
		if _, ok := m.Inputs[rel]; !ok {
			t.Errorf("%s is not part of the bundle (imported by nothing?); %s", rel, fix)
		}
	}
}

// TestBundleUpToDate rebuilds the bundle in memory with esbuild and
// compares it byte for byte with the committed dist. It needs web/node_modules
// (npm ci); without it it skips, unless FINDASH_TEST_WEB=1 or
// FINDASH_TEST_REQUIRE=1 (CI) makes that a failure. It uses no network.
func TestBundleUpToDate(t *testing.T) {
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "lightweight-charts")); err != nil {
		if os.Getenv("FINDASH_TEST_WEB") == "1" || os.Getenv("FINDASH_TEST_REQUIRE") == "1" {
			t.Fatalf("web/node_modules missing and FINDASH_TEST_WEB or FINDASH_TEST_REQUIRE is 1: run npm ci in web/ first")
		}
		t.Skip("web/node_modules missing (npm ci in web/): only the source hashes are checked")
	}
	r, err := bundle.Build(webDir)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	have := distFiles(t)
	for _, name := range slices.Sorted(maps.Keys(r.Files)) {
		got, ok := have[name]
		switch {
		case !ok:
			t.Errorf("dist lacks %s; %s", name, fix)
		case !bytes.Equal(got, r.Files[name]):
			t.Errorf("dist/%s differs from a fresh build; %s", name, fix)
		}
	}
	for name := range have {
		if _, ok := r.Files[name]; !ok {
			t.Errorf("dist/%s is not produced by a fresh build; %s", name, fix)
		}
	}
}

// TestFirstLoadBudget keeps the overview's first load under 200 KB
// compressed (issue 4).
func TestFirstLoadBudget(t *testing.T) {
	var m bundle.Manifest
	b, err := os.ReadFile("dist/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	const budget = 200 * 1000
	for _, enc := range []string{"gzip", "br"} {
		if n := m.InitialSize(enc); n <= 0 || n > budget {
			t.Errorf("first load of the overview with %s = %d B, want 1..%d", enc, n, budget)
		}
	}
	t.Logf("first load: raw %d B, gzip %d B, brotli %d B", m.InitialSize(""), m.InitialSize("gzip"), m.InitialSize("br"))
}
