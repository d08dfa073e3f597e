// Package findash_test holds repository-wide checks: the direction of
// dependencies between findash's packages, and that every package says what
// it is for.
package findash_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/findash/findash/"

type pkg struct {
	ImportPath string
	Doc        string
	Deps       []string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// drivers are the modules that only their adapter (and main) may pull in.
var drivers = map[string]string{
	"modernc.org/sqlite":          "internal/store/sqlite",
	"github.com/jackc/pgx/":       "internal/store/postgres",
	"github.com/redis/go-redis/":  "internal/redis",
	"github.com/nats-io/nats.go":  "internal/bus",
	"github.com/nats-io/nats-ser": "internal/bus",
	"github.com/minio/minio-go":   "internal/objstore",
}

// libraries are imported directly only by the package that wraps them
// (others may reach them through that package's types).
var libraries = map[string]string{
	"codeberg.org/go-pdf/fpdf":    "internal/report",
	"github.com/go-analyze/chart": "internal/report",
	"github.com/riverqueue/river": "internal/jobs",
}

var adapters = []string{"internal/store/sqlite", "internal/store/postgres", "internal/redis", "internal/bus"}

func TestDependencyDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		if strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "web/") {
			continue // main wires concrete adapters; web/ holds build tools
		}
		for _, d := range p.Imports {
			for prefix, owner := range libraries {
				if strings.HasPrefix(d, prefix) && !strings.HasPrefix(rel, owner) {
					t.Errorf("%s imports %s; only %s (and cmd/findash) may", rel, d, owner)
				}
			}
		}
		for _, d := range p.Deps {
			drel, ours := strings.CutPrefix(d, module)
			if rel == "internal/market" && !ours && strings.Contains(strings.Split(d, "/")[0], ".") {
				t.Errorf("internal/market (the domain) imports %s; it may use only the standard library", d)
			}
			if rel == "internal/market" && ours {
				t.Errorf("internal/market imports %s; the domain depends on nothing of ours", d)
			}
			for prefix, owner := range drivers {
				if strings.HasPrefix(d, prefix) && !strings.HasPrefix(rel, owner) {
					t.Errorf("%s imports the driver %s; only %s (and cmd/findash) may", rel, d, owner)
				}
			}
			if ours && drel == "internal/config" {
				t.Errorf("%s imports internal/config; only cmd/findash may", rel)
			}
			for _, a := range adapters {
				if ours && strings.HasPrefix(drel, a) && !strings.HasPrefix(rel, a) && !strings.HasSuffix(rel, "storetest") {
					t.Errorf("%s imports the adapter %s; adapters are chosen and wired only in cmd/findash", rel, drel)
				}
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}
