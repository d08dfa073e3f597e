// Package findash_test holds repository-wide checks on the shape of the
// code: which way dependencies point between findash's packages (checked on
// the transitive import graph, not only direct imports), which packages may
// reach the heavy third-party libraries, that every package says what it
// owns and what it must not import, and that no source file grows too long.
//
// The tables below are the contract: a new package goes into a layer, a new
// heavy library into the heavy table, in the same commit that adds it.
package findash_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/findash/findash"

// A layer is a floor of the house: packages that may import the layers
// below them named in may, and nothing else of findash. The table is in
// order, bottom floor first, and a layer may only name floors below it, so
// no import can run back up (TestLayers checks both).
type layer struct {
	name string
	may  []string // the layers it may import (transitively)
	// stdOnly: no third-party module at all, transitively.
	stdOnly bool
	pkgs    []string // relative to the module; exact package paths
	why     string
}

var layers = []layer{
	{
		name: "system", stdOnly: true,
		pkgs: []string{"internal/uring"},
		why:  "kernel interfaces findash wraps itself where no library is served (io_uring sends); the standard library only, nothing of findash's",
	},
	{
		name: "domain", stdOnly: true,
		pkgs: []string{"internal/market"},
		why:  "the vocabulary (ticks, quotes, candles) every other package speaks; the standard library only",
	},
	{
		name: "policies",
		pkgs: []string{"internal/retry"},
		why:  "the retry policies, one per kind of dependency; nothing of findash's own",
	},
	{
		name: "store support", may: []string{"domain"},
		pkgs: []string{"internal/store"},
		why:  "what the two store adapters share beyond the domain (migration planning), since they may not import each other",
	},
	{
		name: "features", may: []string{"domain", "policies"},
		pkgs: []string{"internal/alert", "internal/auth", "internal/report", "internal/symbol", "internal/watchlist", "internal/portfolio"},
		why:  "one domain each (alerts, identity, reports, symbols, watchlists, portfolios): types, rules, services over small interfaces they declare",
	},
	{
		name: "engines", may: []string{"domain", "policies", "features"},
		pkgs: []string{"internal/cache", "internal/history", "internal/ingest", "internal/live", "internal/partition", "internal/persist", "internal/retention"},
		why:  "the moving parts between the log and the readers, driven through interfaces, no driver",
	},
	{
		name: "adapters", may: []string{"domain", "policies", "store support", "features"},
		pkgs: []string{
			"internal/archive", "internal/auth/argon2id", "internal/bus", "internal/feed", "internal/jobs", "internal/notify", "internal/objstore",
			"internal/observe", "internal/procs", "internal/redis", "internal/report/pdf", "internal/store/postgres", "internal/store/sqlite",
		},
		why: "one package per dependency wrapped (a database, NATS, Redis, S3, River, SMTP, a PDF library, an exchange's API, Parquet, the Go scheduler); never each other",
	},
	{
		name: "delivery", may: []string{"system", "domain", "policies", "features", "engines"},
		pkgs: []string{"internal/api", "internal/bench", "internal/connlimit", "internal/gateway", "internal/web"},
		why:  "HTTP, WebSocket and the dashboard: they speak to users through the domain, never to a driver",
	},
	{
		name: "test support", may: []string{"domain", "policies", "features"},
		pkgs: []string{"internal/feed/fakeexchange", "internal/notify/notifytest", "internal/store/storetest", "internal/testenv"},
		why:  "helpers imported only by tests (and the fake exchange by findash fake-exchange, a dev command)",
	},
	{
		name: "build tools",
		pkgs: []string{"internal/web/bundle"},
		why:  "builds the dashboard's files; not part of the server",
	},
	{
		name: "configuration",
		pkgs: []string{"internal/config"},
		why:  "flags, environment and file; only the command maps it onto constructors",
	},
	{
		name: "commands", may: []string{"system", "domain", "policies", "store support", "features", "engines", "adapters", "delivery", "test support", "build tools", "configuration"},
		pkgs: []string{"cmd/findash", "web/build", "web/devserver"},
		why:  "main packages: the only place concrete adapters are chosen and wired",
	},
}

// heavy lists the large or driver-like libraries and the only packages that
// may reach them, directly or through any chain of imports. Everything else
// that needs what they do declares an interface and gets it wired in by
// cmd/findash. A dependency matches its path and every path below it.
var heavy = []struct {
	dep string
	may []string
	why string
}{
	{"codeberg.org/go-pdf/fpdf", []string{"internal/report/pdf", "cmd/findash"}, "PDF layout"},
	{"github.com/go-analyze/charts", []string{"internal/report/pdf", "cmd/findash"}, "chart rendering (and its fonts and image libraries)"},
	{"golang.org/x/crypto/argon2", []string{"internal/auth/argon2id", "internal/objstore", "cmd/findash"}, "password hashing; objstore reaches it only through minio-go's SSE-C"},
	{"github.com/riverqueue/river", []string{"internal/jobs", "cmd/findash"}, "the job queue"},
	{"github.com/jackc/pgx", []string{"internal/store/postgres", "internal/testenv", "cmd/findash"}, "the PostgreSQL driver"},
	{"modernc.org/sqlite", []string{"internal/store/sqlite", "cmd/findash"}, "the SQLite driver (a C library translated to Go)"},
	{"github.com/pressly/goose", []string{"internal/store/postgres", "internal/store/sqlite", "cmd/findash"}, "schema migrations"},
	{"github.com/nats-io/nats-server", []string{"internal/bus", "internal/testenv", "cmd/findash"}, "the embedded NATS server"},
	{"github.com/nats-io/nats.go", []string{"internal/bus", "internal/testenv", "cmd/findash"}, "the NATS client"},
	{"github.com/minio/minio-go", []string{"internal/objstore", "cmd/findash"}, "the S3 client"},
	{"github.com/parquet-go/parquet-go", []string{"internal/archive", "cmd/findash"}, "the Parquet writer and reader of the tick archive"},
	{"github.com/apache/arrow-go", []string{}, "a second Parquet reader, for the tick archive's tests only"},
	{"github.com/redis/go-redis", []string{"internal/redis", "internal/testenv", "cmd/findash"}, "the Redis client"},
	{"go.opentelemetry.io/otel/sdk", []string{"internal/observe", "cmd/findash"}, "the tracing SDK and exporters"},
	{"github.com/gorilla/websocket", []string{"internal/gateway", "internal/bench", "internal/feed", "internal/feed/fakeexchange", "cmd/findash"}, "the WebSocket handshake"},
	{"github.com/knadh/koanf", []string{"internal/config", "cmd/findash"}, "configuration loading"},
	{"github.com/spf13/cobra", []string{"cmd/findash"}, "the command line"},
	{"github.com/emersion/go-smtp", []string{"internal/notify/notifytest"}, "an SMTP server, for tests only"},
	{"github.com/evanw/esbuild", []string{"internal/web/bundle", "web/build"}, "the dashboard bundler, never in the server binary"},
	{"k8s.io/api", nil, "Kubernetes types, for test/manifests (a test-only package) alone"},
	{"k8s.io/apimachinery", nil, "Kubernetes machinery, for test/manifests alone"},
	{"sigs.k8s.io/yaml", nil, "strict YAML decoding of the manifests, for test/manifests alone"},
}

const maxLines = 500

type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	Standard   bool
	Module     *struct{ Path string }
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
	Deps       []string
}

// rel is p's path inside the module ("" for the root).
func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	return strings.CutPrefix(path, module+"/")
}

type graph struct {
	all  map[string]*pkg // every package of the build, by import path
	ours []*pkg          // findash's packages that have non-test Go files
}

var loadGraph = sync.OnceValues(func() (*graph, error) {
	out, err := exec.Command("go", "list", "-deps", "-json", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("go list: %w\n%s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("go list: %w", err)
	}
	g := &graph{all: map[string]*pkg{}}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		p := new(pkg)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		g.all[p.ImportPath] = p
		if _, ours := rel(p.ImportPath); ours && len(p.GoFiles)+len(p.CgoFiles) > 0 {
			g.ours = append(g.ours, p)
		}
	}
	return g, nil
})

func load(t *testing.T) *graph {
	t.Helper()
	g, err := loadGraph()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// chain returns the shortest import chain from p to dep, as relative paths
// joined by " → ", to say how a forbidden dependency is reached.
func (g *graph) chain(from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var path []string
			for n := cur; n != ""; n = prev[n] {
				r, ours := rel(n)
				if !ours {
					r = n
				}
				path = append(path, r)
			}
			slices.Reverse(path)
			return strings.Join(path, " → ")
		}
		if p := g.all[cur]; p != nil {
			for _, d := range p.Imports {
				if _, seen := prev[d]; !seen {
					prev[d] = cur
					queue = append(queue, d)
				}
			}
		}
	}
	return from + " → … → " + to
}

// layerOf maps each package (relative path) to its layer's index.
func layerOf(t *testing.T) map[string]int {
	t.Helper()
	idx := map[string]int{}
	for i, l := range layers {
		for _, p := range l.pkgs {
			if j, dup := idx[p]; dup {
				t.Errorf("%s is in two layers, %q and %q", p, layers[j].name, l.name)
			}
			idx[p] = i
		}
	}
	return idx
}

// TestLayers checks that every package is on exactly one floor and reaches,
// through any chain of imports, only its own floor's packages below it and
// the floors its layer may import.
func TestLayers(t *testing.T) {
	g := load(t)
	idx := layerOf(t)
	byName := map[string]int{}
	for i, l := range layers {
		byName[l.name] = i
		for _, m := range l.may {
			j, ok := byName[m]
			if !ok {
				t.Errorf("layer %q may import %q, which is not a layer below it; order the table bottom floor first", l.name, m)
			} else if j >= i {
				t.Errorf("layer %q may import %q, which is not below it", l.name, m)
			}
		}
	}
	for _, l := range layers {
		for _, p := range l.pkgs {
			if g.all[module+"/"+p] == nil {
				t.Errorf("layer %q lists %s, which is not a package (moved? remove it from the table)", l.name, p)
			}
		}
	}
	for _, p := range g.ours {
		r, _ := rel(p.ImportPath)
		li, ok := idx[r]
		if !ok {
			t.Errorf("%s is in no layer: add it to the layers table in deps_test.go (and say in its package doc what it must not import)", r)
			continue
		}
		l := layers[li]
		for _, d := range p.Deps {
			dp := g.all[d]
			if dp == nil || dp.Standard {
				continue
			}
			dr, ours := rel(d)
			if !ours {
				if l.stdOnly {
					t.Errorf("%s (layer %q) reaches %s: it may use only the standard library (%s)", r, l.name, d, g.chain(p.ImportPath, d))
				}
				continue
			}
			dl, ok := idx[dr]
			if !ok {
				continue // reported above
			}
			if !slices.Contains(l.may, layers[dl].name) {
				t.Errorf("%s (layer %q) reaches %s (layer %q), which it may not: %s", r, l.name, dr, layers[dl].name, g.chain(p.ImportPath, d))
			}
		}
	}
}

// TestHeavyDependencies checks that the heavy libraries are reached, even
// indirectly, only by the packages the heavy table names.
func TestHeavyDependencies(t *testing.T) {
	g := load(t)
	for _, p := range g.ours {
		r, _ := rel(p.ImportPath)
		for _, h := range heavy {
			if slices.Contains(h.may, r) {
				continue
			}
			for _, d := range p.Deps {
				if d == h.dep || strings.HasPrefix(d, h.dep+"/") {
					t.Errorf("%s reaches %s (%s), which only %s may: %s", r, h.dep, h.why, strings.Join(h.may, ", "), g.chain(p.ImportPath, d))
					break
				}
			}
		}
	}
}

// TestHouseHasNoCycle draws the house from the imports as they are (an
// edge from one layer to another when any package of the first imports one
// of the second) and checks that the drawing has no cycle, whatever order
// the table is in. Run with -v to see it.
func TestHouseHasNoCycle(t *testing.T) {
	g := load(t)
	idx := layerOf(t)
	edges := make([]map[int]bool, len(layers))
	for i := range edges {
		edges[i] = map[int]bool{}
	}
	for _, p := range g.ours {
		r, _ := rel(p.ImportPath)
		from, ok := idx[r]
		if !ok {
			continue // TestLayers reports it
		}
		for _, d := range p.Imports {
			dr, ours := rel(d)
			if to, ok := idx[dr]; ours && ok && to != from {
				edges[from][to] = true
			}
		}
	}
	// Depth-first search; a grey node met again closes a cycle.
	const white, grey, black = 0, 1, 2
	color := make([]int, len(layers))
	var stack []string
	var visit func(int)
	visit = func(n int) {
		color[n] = grey
		stack = append(stack, layers[n].name)
		for to := range edges[n] {
			switch color[to] {
			case grey:
				t.Errorf("the layers import in a cycle: %s → %s", strings.Join(stack, " → "), layers[to].name)
			case white:
				visit(to)
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for n := range layers {
		if color[n] == white {
			visit(n)
		}
	}
	for i := len(layers) - 1; i >= 0; i-- {
		var below []string
		for j := range layers {
			if edges[i][j] {
				below = append(below, layers[j].name)
			}
		}
		t.Logf("%-13s %s\n%13s   imports: %s", layers[i].name, strings.Join(layers[i].pkgs, " "), "", strings.Join(below, ", "))
	}
}

// notImport is how a package doc says what the package must not import:
// "It must not import …", "… imports only the standard library", "…
// imports nothing of findash".
var notImport = regexp.MustCompile(`(?i)must\s+not\s+import|imports\s+only|imports\s+nothing|never\s+imports?\b`)

// TestEveryPackageDocumented checks that every package has one doc comment
// that starts the Go way ("Package x …" or "Command x …"), says what it
// owns (at least a sentence of substance) and says what it must not import.
func TestEveryPackageDocumented(t *testing.T) {
	g := load(t)
	for _, p := range g.ours {
		r, _ := rel(p.ImportPath)
		var docs []string
		var files []string
		for _, f := range append(slices.Clone(p.GoFiles), p.CgoFiles...) {
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil {
				docs = append(docs, af.Doc.Text())
				files = append(files, f)
			}
		}
		switch {
		case len(docs) == 0:
			t.Errorf("%s has no package doc comment (write it in doc.go when it is long)", r)
			continue
		case len(docs) > 1:
			t.Errorf("%s has a package doc comment in %d files (%s); keep one", r, len(docs), strings.Join(files, ", "))
		}
		doc := strings.Join(docs, "\n")
		want := "Package " + p.Name + " "
		if p.Name == "main" {
			want = "Command " + filepath.Base(p.Dir) + " "
		}
		if !strings.HasPrefix(doc, want) {
			t.Errorf("%s: package doc starts %q, want %q…", r, firstLine(doc), want)
		}
		if len(strings.Fields(doc)) < 12 {
			t.Errorf("%s: package doc %q is too short to say what the package owns", r, doc)
		}
		if !notImport.MatchString(doc) {
			t.Errorf("%s: package doc does not say what it must not import (a sentence matching %q)", r, notImport)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestFileSize checks that no non-test Go file is over maxLines lines: a
// file that long holds more than one idea.
func TestFileSize(t *testing.T) {
	g := load(t)
	for _, p := range g.ours {
		r, _ := rel(p.ImportPath)
		for _, f := range append(slices.Clone(p.GoFiles), p.CgoFiles...) {
			name := filepath.ToSlash(filepath.Join(r, f))
			n, generated, err := countLines(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if n > maxLines && !generated {
				t.Errorf("%s has %d lines, more than %d: split it by concern", name, n, maxLines)
			}
		}
	}
}

var generatedRE = regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`)

func countLines(path string) (n int, generated bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		n++
		if !generated && generatedRE.Match(s.Bytes()) {
			generated = true
		}
	}
	return n, generated, s.Err()
}
