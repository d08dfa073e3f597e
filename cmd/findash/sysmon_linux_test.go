package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/testenv"
)

// TestServeRestartsWithSysmonAwake: `findash serve` runs with
// GODEBUG=schedtrace=… (decision 0085) in the same process (the pid the
// caller started, which signals and supervisors rely on) and keeps the
// caller's other GODEBUG settings; GODEBUG naming schedtrace is left alone.
func TestServeRestartsWithSysmonAwake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "findash")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct{ godebug, want string }{
		{"madvdontneed=1", "madvdontneed=1," + sysmonSetting},
		{"schedtrace=0", "schedtrace=0"},
	} {
		t.Setenv("GODEBUG", c.godebug)
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		proc := startProcess(t, bin, filepath.Join(t.TempDir(), "data"), addr)
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", proc.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for kv := range bytes.SplitSeq(environ, []byte{0}) {
			if v, ok := strings.CutPrefix(string(kv), "GODEBUG="); ok {
				got = append(got, v)
			}
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("GODEBUG=%s: serving pid %d has GODEBUG %q, want %q", c.godebug, proc.Process.Pid, got, c.want)
		}
	}
}
