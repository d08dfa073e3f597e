package gateway

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFileLines bounds the package's non-test files: each holds one idea
// (see "Files" in the package doc), and one growing past this asks to be
// split rather than to take on a second idea.
const maxFileLines = 400

func TestFilesAreSmall(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("\n")); n > maxFileLines {
			t.Errorf("%s has %d lines, more than %d: split it by concern", f, n, maxFileLines)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no Go files found: the test must run in the package directory")
	}
}
