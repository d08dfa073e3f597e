package api_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// The fix that every failure below asks for ends with regenerating the HTTP
// reference, whose route table is built from openapi.json.
const regenerateHTTP = "then regenerate docs/reference/http.md: go test ./cmd/findash -run TestReference -update"

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

// httpMethods are the keys of a path item that are operations (a path item
// may also hold parameters, summary, …).
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type openAPIOperation struct {
	Summary string   `json:"summary"`
	Tags    []string `json:"tags"`
}

func readOpenAPI(t *testing.T) ([]byte, openAPIDoc) {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("internal/api/openapi.json is not a valid OpenAPI document: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("internal/api/openapi.json: openapi = %q, want 3.x", doc.OpenAPI)
	}
	return raw, doc
}

// openAPIPath turns a ServeMux pattern's path into the OpenAPI path:
// "/{$}" is "/", "{symbol...}" is "{symbol}".
func openAPIPath(path string) string {
	path = strings.ReplaceAll(strings.TrimSuffix(path, "{$}"), "...}", "}")
	if path == "" {
		return "/"
	}
	return path
}

// TestOpenAPIServed: GET /api/v1/openapi.json serves the file in the
// repository, byte for byte.
func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t)
	resp, served := f.do(t, "GET", "/api/v1/openapi.json", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/openapi.json = %d", resp.StatusCode)
	}
	file, _ := readOpenAPI(t)
	if string(served) != string(file) {
		t.Error("GET /api/v1/openapi.json differs from internal/api/openapi.json (it is embedded: rebuild)")
	}
}

// TestOpenAPIMatchesRoutes: every route registered in routes.go is in
// openapi.json with a summary and tags, and openapi.json documents nothing
// that is not registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	_, doc := readOpenAPI(t)
	patterns := f.api.Patterns()
	if len(patterns) < 10 {
		t.Fatalf("Patterns() = %v: too few", patterns)
	}
	served := map[string]bool{}
	for _, p := range patterns {
		method, path, _ := strings.Cut(p, " ")
		path = openAPIPath(path)
		m := strings.ToLower(method)
		served[m+" "+path] = true
		raw, ok := doc.Paths[path][m]
		if !ok {
			t.Errorf("route %q is registered in internal/api/routes.go but not documented: add paths[%q].%s "+
				"(summary, description, tags, parameters, responses) to internal/api/openapi.json, %s", p, path, m, regenerateHTTP)
			continue
		}
		var op openAPIOperation
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Errorf("internal/api/openapi.json: %s %s: %v", method, path, err)
		}
		if op.Summary == "" || len(op.Tags) == 0 {
			t.Errorf("internal/api/openapi.json: %s %s needs a summary and tags (the summary is its line in docs/reference/http.md), %s",
				method, path, regenerateHTTP)
		}
	}
	var paths []string
	for path := range doc.Paths {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		for m := range doc.Paths[path] {
			if slices.Contains(httpMethods, m) && !served[m+" "+path] {
				t.Errorf("internal/api/openapi.json documents %s %s, which internal/api/routes.go does not register: "+
					"remove it from openapi.json or register the route, %s", strings.ToUpper(m), path, regenerateHTTP)
			}
		}
	}
}
