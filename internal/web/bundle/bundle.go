// Package bundle builds the dashboard's static files from web/: it bundles
// the TypeScript sources with esbuild's Go API (no Node needed), names every
// asset after its content hash, writes index.html pointing at them, and
// precompresses each file with gzip and brotli.
//
// The same Build is run by `go run ./web/build` (which writes the result to
// internal/web/dist, committed and embedded) and by internal/web's tests
// (which rebuild in memory and fail when the committed files are stale).
// Build is deterministic: the same sources give byte-identical files.
//
// It imports nothing of findash. The server must not import it: esbuild
// stays out of the findash binary (deps_test.go checks it).
package bundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/evanw/esbuild/pkg/api"
)

// Entry is the TypeScript entry point, relative to the web directory.
const Entry = "src/app.ts"

// IndexTemplate is the HTML page, relative to the web directory. Build
// replaces the line holding AssetsMarker with the stylesheet and script tags.
const IndexTemplate = "src/index.html"

// Favicon is the page icon, relative to the web directory; it is copied
// to assets/ under a hashed name.
const Favicon = "src/favicon.svg"

// AssetsMarker marks where index.html gets its <link> and <script> tags.
const AssetsMarker = "<!--assets-->"

// ManifestName is the file in the output listing every file with its sizes.
const ManifestName = "manifest.json"

// File is one file of the manifest.
type File struct {
	Name   string `json:"name"`             // path in dist, e.g. "assets/app.ABCD1234.js"
	Size   int    `json:"size"`             // bytes, uncompressed
	Gzip   int    `json:"gzip,omitempty"`   // bytes of Name+".gz"; 0 when not worth it
	Brotli int    `json:"brotli,omitempty"` // bytes of Name+".br"; 0 when not worth it
	SHA256 string `json:"sha256"`           // hex of the uncompressed bytes
}

// Manifest lists the built files. Entry names the script index.html loads;
// Initial lists the files the overview page loads first (index.html, the
// entry's script and stylesheet and their static imports).
//
// Inputs maps every source file the build read (paths relative to the web
// directory, e.g. "src/app.ts", "node_modules/lightweight-charts/…", plus
// IndexTemplate and package-lock.json) to the hex SHA-256 of its contents,
// so that staleness can be checked even where node_modules is absent.
type Manifest struct {
	Entry   string            `json:"entry"`
	Style   string            `json:"style"`
	Initial []string          `json:"initial"`
	Files   []File            `json:"files"`
	Inputs  map[string]string `json:"inputs"`
}

// Result is a finished build: every output file by its path in dist
// (including the .gz and .br variants and manifest.json).
type Result struct {
	Files    map[string][]byte
	Manifest Manifest
}

// Build bundles the dashboard found in webDir (the directory holding
// package.json, src/ and node_modules/). It reads files only; it needs
// node_modules to have been installed (npm ci) for the chart library.
func Build(webDir string) (*Result, error) {
	abs, err := filepath.Abs(webDir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules", "lightweight-charts", "package.json")); err != nil {
		return nil, fmt.Errorf("bundle: chart library not installed (run npm ci in %s): %w", webDir, err)
	}
	out := filepath.Join(abs, ".out", "assets") // virtual: Write is false
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     abs,
		EntryPoints:       []string{Entry},
		Bundle:            true,
		Splitting:         true,
		Format:            api.FormatESModule,
		Platform:          api.PlatformBrowser,
		Target:            api.ES2020,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsEndOfFile,
		Charset:           api.CharsetUTF8,
		Outdir:            out,
		EntryNames:        "[name].[hash]",
		ChunkNames:        "[name].[hash]",
		AssetNames:        "[name].[hash]",
		Loader:            map[string]api.Loader{".svg": api.LoaderFile},
		Metafile:          true,
		Write:             false,
		LogLevel:          api.LogLevelSilent,
	})
	if len(res.Errors) > 0 {
		msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return nil, fmt.Errorf("bundle: esbuild: %s", strings.Join(msgs, "\n"))
	}

	r := &Result{Files: map[string][]byte{}}
	for _, f := range res.OutputFiles {
		rel, err := filepath.Rel(out, f.Path)
		if err != nil {
			return nil, fmt.Errorf("bundle: output %s: %w", f.Path, err)
		}
		r.Files["assets/"+filepath.ToSlash(rel)] = f.Contents
	}

	entry, style, initial, err := entryFiles(res.Metafile, abs, out)
	if err != nil {
		return nil, err
	}
	r.Manifest.Entry, r.Manifest.Style = entry, style

	tmpl, err := os.ReadFile(filepath.Join(abs, IndexTemplate))
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	tags := `<link rel="stylesheet" href="/` + style + `">` + "\n" +
		`<script type="module" src="/` + entry + `"></script>`
	icon, err := os.ReadFile(filepath.Join(abs, Favicon))
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	iconName := "assets/favicon." + Hash(icon)[:8] + ".svg"
	r.Files[iconName] = icon
	tags = `<link rel="icon" type="image/svg+xml" href="/` + iconName + `">` + "\n" + tags
	if !bytes.Contains(tmpl, []byte(AssetsMarker)) {
		return nil, fmt.Errorf("bundle: %s lacks %s", IndexTemplate, AssetsMarker)
	}
	r.Files["index.html"] = bytes.Replace(tmpl, []byte(AssetsMarker), []byte(tags), 1)
	r.Manifest.Initial = append([]string{"index.html", iconName}, initial...)

	inputs, err := inputFiles(res.Metafile)
	if err != nil {
		return nil, err
	}
	r.Manifest.Inputs = map[string]string{}
	for _, in := range append(inputs, IndexTemplate, Favicon, "package-lock.json") {
		b, err := os.ReadFile(filepath.Join(abs, filepath.FromSlash(in)))
		if err != nil {
			return nil, fmt.Errorf("bundle: input: %w", err)
		}
		r.Manifest.Inputs[in] = Hash(b)
	}

	names := slices.Sorted(maps.Keys(r.Files))
	for _, name := range names {
		b := r.Files[name]
		f := File{Name: name, Size: len(b), SHA256: Hash(b)}
		if gz := gzipBytes(b); len(gz) < len(b) {
			r.Files[name+".gz"] = gz
			f.Gzip = len(gz)
		}
		if br := brotliBytes(b); len(br) < len(b) {
			r.Files[name+".br"] = br
			f.Brotli = len(br)
		}
		r.Manifest.Files = append(r.Manifest.Files, f)
	}
	m, err := json.MarshalIndent(r.Manifest, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bundle: manifest: %w", err)
	}
	r.Files[ManifestName] = append(m, '\n')
	return r, nil
}

// entryFiles finds, in esbuild's metafile, the entry's script, its
// stylesheet and the files loaded before any dynamic import.
func entryFiles(metafile, abs, out string) (entry, style string, initial []string, err error) {
	var meta struct {
		Outputs map[string]struct {
			EntryPoint string `json:"entryPoint"`
			CSSBundle  string `json:"cssBundle"`
			Imports    []struct {
				Path string `json:"path"`
				Kind string `json:"kind"`
			} `json:"imports"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(metafile), &meta); err != nil {
		return "", "", nil, fmt.Errorf("bundle: metafile: %w", err)
	}
	// metafile paths are relative to AbsWorkingDir
	outRel, _ := filepath.Rel(abs, out)
	outRel = filepath.ToSlash(outRel)
	toDist := func(p string) string { return "assets/" + strings.TrimPrefix(p, outRel+"/") }
	var entryOut string
	for name, o := range meta.Outputs {
		if o.EntryPoint == Entry {
			entryOut = name
		}
	}
	if entryOut == "" {
		return "", "", nil, errors.New("bundle: no output for " + Entry)
	}
	o := meta.Outputs[entryOut]
	if o.CSSBundle == "" {
		return "", "", nil, errors.New("bundle: the entry imports no stylesheet")
	}
	entry, style = toDist(entryOut), toDist(o.CSSBundle)
	seen := map[string]bool{entryOut: true}
	queue := []string{entryOut}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		initial = append(initial, toDist(p))
		for _, im := range meta.Outputs[p].Imports {
			if im.Kind == "import-statement" && !seen[im.Path] {
				seen[im.Path] = true
				queue = append(queue, im.Path)
			}
		}
	}
	initial = append(initial, style)
	slices.Sort(initial)
	return entry, style, initial, nil
}

// inputFiles lists the metafile's inputs (relative to the web directory).
func inputFiles(metafile string) ([]string, error) {
	var meta struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(metafile), &meta); err != nil {
		return nil, fmt.Errorf("bundle: metafile: %w", err)
	}
	return slices.Sorted(maps.Keys(meta.Inputs)), nil
}

// Hash is the hex SHA-256 of b, as the manifest records it.
func Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// gzipBytes compresses b at the best level with a header that carries no
// name or time, so the output depends only on b.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // level is valid
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func brotliBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := brotli.NewWriterLevel(&buf, brotli.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Write replaces the contents of dir with the result's files. Files of dir
// not in the result (older assets) are removed.
func Write(r *Result, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("bundle: clear %s: %w", dir, err)
	}
	for name, b := range r.Files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	return nil
}

// InitialSize sums, over the manifest's Initial files, the bytes a browser
// downloads on first load of the overview: brotli when present, else gzip,
// else raw (enc "br"), or gzip else raw (enc "gzip"), or raw (enc "").
func (m Manifest) InitialSize(enc string) int {
	by := map[string]File{}
	for _, f := range m.Files {
		by[f.Name] = f
	}
	n := 0
	for _, name := range m.Initial {
		f := by[path.Clean(name)]
		switch {
		case enc == "br" && f.Brotli > 0:
			n += f.Brotli
		case (enc == "br" || enc == "gzip") && f.Gzip > 0:
			n += f.Gzip
		default:
			n += f.Size
		}
	}
	return n
}
