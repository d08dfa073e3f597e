package main

// The sources of truth the reference tests read from the code itself: the
// metrics every package defines and the WebSocket protocol's names.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// metricDoc is one metric as defined in the code.
type metricDoc struct {
	name, typ, help, pkg string
	labels               []string // variable labels, then const labels as name=value
}

// metricsFromSource finds every prometheus.XxxOpts{Name: …} literal in the
// non-test Go files under root's cmd/ and internal/, sorted by name. A
// metric defined twice (the same name with other const labels) is merged.
func metricsFromSource(root string) ([]*metricDoc, error) {
	byName := map[string]*metricDoc{}
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(dir string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if d.Name() == "testdata" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			rel, _ := filepath.Rel(root, dir)
			return scanMetrics(dir, filepath.ToSlash(rel), byName)
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]*metricDoc, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func scanMetrics(dir, pkg string, byName map[string]*metricDoc) error {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var files []*ast.File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	consts := stringConsts(files)
	seen := map[*ast.CompositeLit]bool{}
	add := func(lit *ast.CompositeLit, labels []string) {
		seen[lit] = true
		m := metricFromOpts(lit, consts)
		if m == nil {
			return
		}
		m.pkg = pkg
		m.labels = append(labels, m.labels...)
		if old, ok := byName[m.name]; ok {
			for _, l := range m.labels {
				if !slices.Contains(old.labels, l) {
					old.labels = append(old.labels, l)
				}
			}
			return
		}
		byName[m.name] = m
	}
	for _, f := range files {
		// Calls first, for the variable labels of NewXxxVec(opts, labels).
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			lit, ok := call.Args[0].(*ast.CompositeLit)
			if !ok || !isOpts(lit) {
				return true
			}
			var labels []string
			if len(call.Args) > 1 {
				labels = stringList(call.Args[1], consts)
			}
			add(lit, labels)
			return true
		})
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.CompositeLit); ok && isOpts(lit) && !seen[lit] {
				add(lit, nil)
			}
			return true
		})
	}
	return nil
}

// isOpts reports whether lit is a prometheus.CounterOpts, GaugeOpts, … literal.
func isOpts(lit *ast.CompositeLit) bool {
	sel, ok := lit.Type.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "prometheus" && strings.HasSuffix(sel.Sel.Name, "Opts")
}

func metricFromOpts(lit *ast.CompositeLit, consts map[string]string) *metricDoc {
	var ns, sub, name, help string
	var constLabels []string
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, _ := kv.Key.(*ast.Ident)
		if key == nil {
			continue
		}
		switch key.Name {
		case "Namespace":
			ns, _ = stringValue(kv.Value, consts)
		case "Subsystem":
			sub, _ = stringValue(kv.Value, consts)
		case "Name":
			name, _ = stringValue(kv.Value, consts)
		case "Help":
			help, _ = stringValue(kv.Value, consts)
		case "ConstLabels":
			if cl, ok := kv.Value.(*ast.CompositeLit); ok {
				for _, e := range cl.Elts {
					if lkv, ok := e.(*ast.KeyValueExpr); ok {
						k, _ := stringValue(lkv.Key, consts)
						v, _ := stringValue(lkv.Value, consts)
						constLabels = append(constLabels, k+"="+v)
					}
				}
			}
		}
	}
	if name == "" {
		return nil // not a constant: TestReferenceMetricsServed reports it
	}
	full := strings.Join(slices.DeleteFunc([]string{ns, sub, name}, func(s string) bool { return s == "" }), "_")
	typ := strings.ToLower(strings.TrimSuffix(lit.Type.(*ast.SelectorExpr).Sel.Name, "Opts"))
	return &metricDoc{name: full, typ: typ, help: help, labels: constLabels}
}

// stringConsts maps the package's constant and variable names to their
// string values, where those are constant expressions.
func stringConsts(files []*ast.File) map[string]string {
	consts := map[string]string{}
	for range 3 { // constants defined from constants
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				vs, ok := n.(*ast.ValueSpec)
				if !ok {
					return true
				}
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := stringValue(vs.Values[i], consts); ok {
							consts[id.Name] = s
						}
					}
				}
				return true
			})
		}
	}
	return consts
}

// stringValue evaluates a string literal, a known constant or a
// concatenation of them.
func stringValue(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		}
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			a, ok1 := stringValue(e.X, consts)
			b, ok2 := stringValue(e.Y, consts)
			return a + b, ok1 && ok2
		}
	case *ast.ParenExpr:
		return stringValue(e.X, consts)
	}
	return "", false
}

func stringList(e ast.Expr, consts map[string]string) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range lit.Elts {
		if s, ok := stringValue(el, consts); ok {
			out = append(out, s)
		}
	}
	return out
}

// metricTable renders the metrics for operations.md.
func metricTable(ms []*metricDoc) string {
	var sb strings.Builder
	sb.WriteString("| metric | type | labels | meaning | defined in |\n|---|---|---|---|---|\n")
	for _, m := range ms {
		labels := make([]string, len(m.labels))
		for i, l := range m.labels {
			labels[i] = "`" + l + "`"
		}
		fmt.Fprintf(&sb, "| `%s` | %s | %s | %s | %s |\n", m.name, m.typ, strings.Join(labels, ", "), cell(m.help), m.pkg)
	}
	return sb.String()
}

// wsProtocol is the WebSocket protocol's vocabulary as the gateway's code
// spells it.
type wsProtocol struct {
	ops, types, codes []string
	closes            []int // close codes the gateway sends
}

var (
	wsOpRE   = regexp.MustCompile(`\bOp[A-Z]\w*\s*=\s*"(\w+)"`)
	wsCodeRE = regexp.MustCompile(`\bCode[A-Z]\w*\s*=\s*"(\w+)"`)
	// Server messages are built by hand: `{"type":"tick",…` in a raw string,
	// encodeReply("ack", …), encodeData("snapshot", …), or a Type* constant.
	wsTypeRE = regexp.MustCompile(`"type":"(\w+)"|\bencode\w*\(\s*"(\w+)"|\bType[A-Z]\w*\s*=\s*"(\w+)"`)
	// Close codes are constants close<Name> = websocket.Close<Name> or a
	// number; one declared but never used is not sent.
	wsCloseRE = regexp.MustCompile(`\b(close[A-Z]\w*)\s*=\s*(?:websocket\.(Close\w+)|(\d{4}))\b`)
)

// gorillaClose numbers gorilla/websocket's close code constants.
var gorillaClose = map[string]int{
	"CloseNormalClosure": 1000, "CloseGoingAway": 1001, "CloseProtocolError": 1002,
	"CloseUnsupportedData": 1003, "CloseNoStatusReceived": 1005, "CloseAbnormalClosure": 1006,
	"CloseInvalidFramePayloadData": 1007, "ClosePolicyViolation": 1008, "CloseMessageTooBig": 1009,
	"CloseMandatoryExtension": 1010, "CloseInternalServerErr": 1011, "CloseServiceRestart": 1012,
	"CloseTryAgainLater": 1013, "CloseTLSHandshake": 1015,
}

// wsProtocolFromSource reads the client ops, server message types and error
// codes from the non-test Go files of the gateway package in dir.
func wsProtocolFromSource(dir string) (wsProtocol, error) {
	var p wsProtocol
	var all strings.Builder
	consts := map[string]int{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return p, err
	}
	addAll := func(list *[]string, ms [][]string) {
		for _, m := range ms {
			for _, g := range m[1:] {
				if g != "" && !slices.Contains(*list, g) {
					*list = append(*list, g)
				}
			}
		}
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return p, err
		}
		src := string(b)
		all.WriteString(src)
		for _, m := range wsCloseRE.FindAllStringSubmatch(src, -1) {
			code, err := strconv.Atoi(m[3])
			if m[2] != "" {
				code, err = gorillaClose[m[2]], nil
			}
			if err != nil || code == 0 {
				return p, fmt.Errorf("close code constant %s = %s: teach wsProtocolFromSource its number", m[1], m[0])
			}
			consts[m[1]] = code
		}
		addAll(&p.ops, wsOpRE.FindAllStringSubmatch(src, -1))
		addAll(&p.codes, wsCodeRE.FindAllStringSubmatch(src, -1))
		addAll(&p.types, wsTypeRE.FindAllStringSubmatch(src, -1))
	}
	for name, code := range consts {
		if strings.Count(all.String(), name) > 1 && !slices.Contains(p.closes, code) {
			p.closes = append(p.closes, code)
		}
	}
	slices.Sort(p.ops)
	slices.Sort(p.types)
	slices.Sort(p.codes)
	slices.Sort(p.closes)
	return p, nil
}
