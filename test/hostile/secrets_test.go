package hostile_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/testenv"
)

// TestSecretsStayOffTheCommandLine (issue 13 item 14): a secret given as a
// flag is refused before anything starts, without echoing it; the same
// secret from a file works; pprof does not show the command line.
func TestSecretsStayOffTheCommandLine(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-on-the-command-line"
	cmd := exec.Command(binary, "serve", "--data-dir", t.TempDir(), "--secret-key", secret)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve --secret-key started; want a refusal:\n%s", out)
	}
	if !strings.Contains(string(out), "FINDASH_SECRET_KEY") || strings.Contains(string(out), secret) {
		t.Fatalf("refusal should name FINDASH_SECRET_KEY and not repeat the secret:\n%s", out)
	}

	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s := startServer(t, options{
		args: []string{"--secret-key-file", keyFile, "--metrics-addr", metrics},
		env:  []string{"FINDASH_SECRET_KEY="}, // the harness's key would clash with the file
	})
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(s.Admin + "/debug/pprof/cmdline"); code != 404 || strings.Contains(body, "secret-key") {
		t.Errorf("admin /debug/pprof/cmdline = %d %q, want 404", code, body)
	}
	if code, _ := get(s.Admin + "/debug/pprof/"); code != 200 {
		t.Errorf("admin /debug/pprof/ = %d, want 200", code)
	}
	if code, body := get("http://" + metrics + "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics listener /metrics = %d, want 200 with the registry", code)
	}
	if code, _ := get("http://" + metrics + "/debug/pprof/"); code != 404 {
		t.Errorf("metrics listener /debug/pprof/ = %d, want 404 (pprof stays on the admin listener)", code)
	}
	if strings.Contains(s.Output(200), secret) {
		t.Error("the secret read from a file appears in the log")
	}
}
