package main

// docs/reference is findash's contract (docs/decisions/0010). The tests here
// keep it in step with the code: the tables that have a source of truth are
// generated between markers
//
//	<!-- generated:KIND ARGS -->
//	…
//	<!-- end -->
//
// and a test fails when a table differs from what the code says. Rewrite
// them with
//
//	go test ./cmd/findash -run TestReference -update
//
// and commit the result together with the change. The kinds: commands (every
// command of cli.md), flags PATH (a command's flags; "flags serve" is the
// configuration table), routes (from internal/api/openapi.json) and metrics
// (every prometheus.*Opts{Name: …} in the code). What cannot be generated
// (the WebSocket message types) is checked to be described.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/findash/findash/internal/config"
)

var update = flag.Bool("update", false, "rewrite the generated sections of docs/reference")

const (
	repoRoot   = "../.."
	refDir     = repoRoot + "/docs/reference"
	regenerate = "go test ./cmd/findash -run TestReference -update"
	endMarker  = "<!-- end -->"
)

var markerRE = regexp.MustCompile(`(?m)^<!-- generated:([a-z]+)(?: ([^>]*?))? -->\n`)

// section is one generated block of a document.
type section struct{ kind, arg string }

// generator renders the body of one generated block.
type generator func(s section) (string, error)

// rewrite returns doc with every generated block rendered anew, and the
// blocks it found.
func rewrite(doc string, gen generator) (string, []section, error) {
	var out strings.Builder
	var found []section
	rest := doc
	for {
		loc := markerRE.FindStringSubmatchIndex(rest)
		if loc == nil {
			out.WriteString(rest)
			return out.String(), found, nil
		}
		s := section{kind: rest[loc[2]:loc[3]]}
		if loc[4] >= 0 {
			s.arg = strings.TrimSpace(rest[loc[4]:loc[5]])
		}
		out.WriteString(rest[:loc[1]])
		rest = rest[loc[1]:]
		end := strings.Index(rest, endMarker)
		if end < 0 {
			return "", nil, fmt.Errorf("<!-- generated:%s %s --> has no %s after it", s.kind, s.arg, endMarker)
		}
		body, err := gen(s)
		if err != nil {
			return "", nil, fmt.Errorf("generated:%s %s: %w", s.kind, s.arg, err)
		}
		out.WriteString(body)
		if body != "" && !strings.HasSuffix(body, "\n") {
			out.WriteByte('\n')
		}
		rest = rest[end:]
		found = append(found, s)
	}
}

// checkGenerated renders file's generated blocks (plus what complete adds)
// and compares: with -update it writes the result, else it fails saying how
// to regenerate.
func checkGenerated(t *testing.T, file string, gen generator, complete func(doc string, found []section) string) []section {
	t.Helper()
	path := filepath.Join(refDir, file)
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read docs/reference/%s: %v", file, err)
	}
	doc, found, err := rewrite(string(old), gen)
	if err != nil {
		t.Fatalf("docs/reference/%s: %v", file, err)
	}
	if complete != nil {
		doc = complete(doc, found)
	}
	if doc == string(old) {
		return found
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote docs/reference/%s; review the diff and commit it with the change", file)
		return found
	}
	t.Errorf("docs/reference/%s does not match the code.\nRegenerate it with\n\n\t%s\n\nthen review and commit the diff together with the change.\n%s",
		file, regenerate, firstDiff(string(old), doc))
	return found
}

// firstDiff shows the first lines that differ between the document and
// what the code says.
func firstDiff(old, want string) string {
	a, b := strings.Split(old, "\n"), strings.Split(want, "\n")
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "First difference at line %d:\n", i+1)
	for j := i; j < len(a) && j < i+3; j++ {
		fmt.Fprintf(&sb, "  doc:  %s\n", a[j])
	}
	for j := i; j < len(b) && j < i+3; j++ {
		fmt.Fprintf(&sb, "  code: %s\n", b[j])
	}
	return sb.String()
}

// cell escapes s for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// --- command line and configuration ---

// commandTree is the CLI as the binary builds it.
func commandTree() *cobra.Command {
	return newRoot(nil, strings.NewReader(""), io.Discard, io.Discard)
}

// documented lists the commands the reference describes: runnable, not
// hidden, in the tree's order.
func documented(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			if sub.Runnable() {
				out = append(out, sub)
			}
			walk(sub)
		}
	}
	walk(root)
	return out
}

// cmdPath is a command's path below the root ("user create").
func cmdPath(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

func findCommand(root *cobra.Command, path string) *cobra.Command {
	for _, c := range documented(root) {
		if cmdPath(c) == path {
			return c
		}
	}
	return nil
}

func configFlagNames() map[string]bool {
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	config.Flags(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
	return names
}

func flagName(f *pflag.Flag) string {
	varname, _ := pflag.UnquoteUsage(f)
	s := "`--" + f.Name
	if f.Shorthand != "" {
		s = "`-" + f.Shorthand + ", --" + f.Name
	}
	if varname != "" {
		s += " " + varname
	}
	return s + "`"
}

func flagDefault(f *pflag.Flag) string {
	switch f.DefValue {
	case "", "[]", "false":
		return ""
	}
	return "`" + f.DefValue + "`"
}

func envName(flag string) string {
	return "FINDASH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func genCLI(root *cobra.Command) generator {
	return func(s section) (string, error) {
		switch s.kind {
		case "commands":
			var sb strings.Builder
			sb.WriteString("| command | what it does |\n|---|---|\n")
			for _, c := range documented(root) {
				use := c.CommandPath()
				if _, args, ok := strings.Cut(c.Use, " "); ok {
					use += " " + args
				}
				fmt.Fprintf(&sb, "| `%s` | %s |\n", use, cell(c.Short))
			}
			return sb.String(), nil
		case "flags":
			c := findCommand(root, s.arg)
			if c == nil {
				return "", fmt.Errorf("findash has no command %q: remove this block from docs/reference", s.arg)
			}
			if s.arg == "serve" {
				return configTable(c), nil
			}
			return flagTable(c), nil
		}
		return "", fmt.Errorf("unknown kind %q here", s.kind)
	}
}

// configTable is the table of serve's flags: every configuration setting.
func configTable(c *cobra.Command) string {
	var sb strings.Builder
	sb.WriteString("| flag | environment variable | default | meaning |\n|---|---|---|---|\n")
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		fmt.Fprintf(&sb, "| %s | `%s` | %s | %s |\n", flagName(f), envName(f.Name), flagDefault(f), cell(f.Usage))
	})
	return sb.String()
}

// flagTable lists a command's own flags; the configuration flags it shares
// with serve are named in one line after it.
func flagTable(c *cobra.Command) string {
	cfg := configFlagNames()
	var own []*pflag.Flag
	var shared []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		switch {
		case f.Hidden || f.Name == "help":
		case cfg[f.Name]:
			shared = append(shared, f.Name)
		default:
			own = append(own, f)
		}
	})
	var sb strings.Builder
	if len(own) == 0 {
		sb.WriteString("No flags of its own.\n")
	} else {
		sb.WriteString("| flag | default | meaning |\n|---|---|---|\n")
		for _, f := range own {
			fmt.Fprintf(&sb, "| %s | %s | %s |\n", flagName(f), flagDefault(f), cell(f.Usage))
		}
	}
	switch {
	case len(shared) == 0:
	case len(shared) == len(cfg):
		sb.WriteString("\nIt also takes every configuration flag and variable of `serve` ([configuration.md](configuration.md)).\n")
	default:
		for i, n := range shared {
			shared[i] = "`--" + n + "`"
		}
		fmt.Fprintf(&sb, "\nIt also takes these configuration flags of `serve` ([configuration.md](configuration.md)), and their variables: %s.\n", strings.Join(shared, ", "))
	}
	return sb.String()
}

// TestReferenceCLI: cli.md lists every command and each command's flags;
// with -update a block is appended for a command that has none yet.
func TestReferenceCLI(t *testing.T) {
	root := commandTree()
	checkGenerated(t, "cli.md", genCLI(root), func(doc string, found []section) string {
		have := map[string]bool{"serve": true} // serve's flags are configuration.md's table
		for _, s := range found {
			if s.kind == "flags" {
				have[s.arg] = true
			}
		}
		for _, c := range documented(root) {
			p := cmdPath(c)
			if have[p] {
				continue
			}
			body := flagTable(c)
			doc = strings.TrimRight(doc, "\n") + fmt.Sprintf("\n\n## findash %s\n\n%s\n\n<!-- generated:flags %s -->\n%s%s\n", p, c.Short, p, body, endMarker)
		}
		return doc
	})
}

// TestReferenceConfiguration: configuration.md's table is serve's flags.
func TestReferenceConfiguration(t *testing.T) {
	found := checkGenerated(t, "configuration.md", genCLI(commandTree()), nil)
	if !slices.Contains(found, section{"flags", "serve"}) {
		t.Errorf("docs/reference/configuration.md lacks the table of serve's flags: add\n\n<!-- generated:flags serve -->\n%s\n\nand run %s", endMarker, regenerate)
	}
}

// --- HTTP API ---

// TestReferenceHTTP: http.md's route table is internal/api/openapi.json's
// (which internal/api's TestOpenAPI keeps equal to routes.go).
func TestReferenceHTTP(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "internal/api/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	found := checkGenerated(t, "http.md", func(s section) (string, error) {
		if s.kind != "routes" {
			return "", fmt.Errorf("unknown kind %q here", s.kind)
		}
		return routeTable(raw)
	}, nil)
	if !slices.Contains(found, section{kind: "routes"}) {
		t.Errorf("docs/reference/http.md lacks the route table: add\n\n<!-- generated:routes -->\n%s\n\nand run %s", endMarker, regenerate)
	}
}

// routeTable renders every operation of the OpenAPI document, in its order.
func routeTable(raw []byte) (string, error) {
	var doc struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("internal/api/openapi.json: %w", err)
	}
	paths, err := orderedObject(doc.Paths)
	if err != nil {
		return "", fmt.Errorf("internal/api/openapi.json paths: %w", err)
	}
	var sb strings.Builder
	sb.WriteString("| method | path | what | auth |\n|---|---|---|---|\n")
	for _, p := range paths {
		ops, err := orderedObject(p.value)
		if err != nil {
			return "", fmt.Errorf("internal/api/openapi.json %s: %w", p.key, err)
		}
		for _, o := range ops {
			var op struct {
				Summary  string                `json:"summary"`
				Security []map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(o.value, &op); err != nil || op.Summary == "" {
				return "", fmt.Errorf("internal/api/openapi.json: %s %s needs a summary", strings.ToUpper(o.key), p.key)
			}
			fmt.Fprintf(&sb, "| %s | `%s` | %s | %s |\n", strings.ToUpper(o.key), p.key, cell(op.Summary), authOf(op.Security))
		}
	}
	return sb.String(), nil
}

// authOf names an operation's security requirements.
func authOf(sec []map[string][]string) string {
	var names []string
	optional := false
	for _, req := range sec {
		if len(req) == 0 {
			optional = true
		}
		for scheme := range req {
			switch scheme {
			case "bearer":
				names = append(names, "Bearer")
			default:
				names = append(names, scheme)
			}
		}
	}
	switch {
	case len(names) == 0:
		return "—"
	case optional:
		return "optional: " + strings.Join(names, " or ")
	}
	return strings.Join(names, " or ")
}

type member struct {
	key   string
	value json.RawMessage
}

// orderedObject decodes a JSON object keeping its keys' order.
func orderedObject(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: tok.(string), value: v})
	}
	return out, nil
}

// --- operations ---

// TestReferenceMetrics: operations.md's metric table is every metric the
// code defines (metricsFromSource).
func TestReferenceMetrics(t *testing.T) {
	ms, err := metricsFromSource(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if !strings.HasPrefix(m.name, "findash_") {
			t.Errorf("metric %s (%s) must be named findash_* (docs/reference/operations.md)", m.name, m.pkg)
		}
	}
	found := checkGenerated(t, "operations.md", func(s section) (string, error) {
		if s.kind != "metrics" {
			return "", fmt.Errorf("unknown kind %q here", s.kind)
		}
		return metricTable(ms), nil
	}, nil)
	if !slices.Contains(found, section{kind: "metrics"}) {
		t.Errorf("docs/reference/operations.md lacks the metric table: add\n\n<!-- generated:metrics -->\n%s\n\nand run %s", endMarker, regenerate)
	}
}

// TestReferenceMetricsServed scrapes a running server: every findash_*
// metric it serves must be in operations.md, which also proves that
// metricsFromSource finds what the code registers.
func TestReferenceMetricsServed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	doc, err := os.ReadFile(filepath.Join(refDir, "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	in := start(t, testConfig(t, t.TempDir()))
	resp, err := http.Get("http://" + in.addrs.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(body), "\n") {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		if !strings.HasPrefix(name, "findash_") {
			continue
		}
		n++
		if !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("the server exports %s, which docs/reference/operations.md does not list.\n"+
				"Run %s; if the table still lacks it, the metric's name is not a constant in a prometheus.*Opts{Name: …} literal, "+
				"which metricsFromSource (cmd/findash/reference_test.go) reads: make it one.", name, regenerate)
		}
	}
	if n == 0 {
		t.Fatalf("no findash_* metric served at /metrics:\n%s", body)
	}
}

// TestReferenceWebSocket: websocket.md describes every client op, server
// message type and error code of internal/gateway.
func TestReferenceWebSocket(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(refDir, "websocket.md"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := wsProtocolFromSource(filepath.Join(repoRoot, "internal/gateway"))
	if err != nil {
		t.Fatal(err)
	}
	// A floor: if the gateway builds its messages differently one day, the
	// scan must be taught, not silently find nothing.
	if len(p.ops) < 3 || len(p.types) < 8 || len(p.codes) < 5 {
		t.Fatalf("wsProtocolFromSource (cmd/findash/reference_test.go) found only ops %v, types %v, codes %v in internal/gateway: "+
			"teach it how the gateway now names them", p.ops, p.types, p.codes)
	}
	for _, op := range p.ops {
		if !bytes.Contains(doc, []byte(`"op":"`+op+`"`)) {
			t.Errorf("docs/reference/websocket.md does not describe the client op %q of internal/gateway: "+
				"add an example {\"op\":%q,…} and its rules to the \"Client → server\" section", op, op)
		}
	}
	for _, typ := range p.types {
		if !bytes.Contains(doc, []byte(`"type":"`+typ+`"`)) {
			t.Errorf("docs/reference/websocket.md does not describe the server message type %q of internal/gateway: "+
				"add an example {\"type\":%q,…} and when it is sent to the \"Server → client\" section", typ, typ)
		}
	}
	for _, code := range p.codes {
		if !bytes.Contains(doc, []byte("`"+code+"`")) {
			t.Errorf("docs/reference/websocket.md does not list the error code %q of internal/gateway: add `%s` to the table of error codes", code, code)
		}
	}
	// Close codes: each one the gateway uses is in the close code section.
	_, closes, _ := bytes.Cut(doc, []byte("## Frames and close codes"))
	closes, _, _ = bytes.Cut(closes, []byte("\n## "))
	if len(p.closes) < 2 {
		t.Fatalf("wsProtocolFromSource found only close codes %v in internal/gateway: teach it how the gateway now names them", p.closes)
	}
	for _, code := range p.closes {
		if !bytes.Contains(closes, []byte(strconv.Itoa(code))) {
			t.Errorf("docs/reference/websocket.md's \"Frames and close codes\" section does not name close code %d, which internal/gateway uses: say when it is sent", code)
		}
	}
}

// TestReferenceLinks: relative links in README.md and docs/ lead to files
// that exist.
func TestReferenceLinks(t *testing.T) {
	linkRE := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	files := []string{filepath.Join(repoRoot, "README.md")}
	filepath.WalkDir(filepath.Join(repoRoot, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return err
	})
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), target)); err != nil {
				rel, _ := filepath.Rel(repoRoot, f)
				t.Errorf("%s links to %s, which does not exist: fix the link in %s (paths are relative to that file) or remove it", rel, m[1], rel)
			}
		}
	}
}
