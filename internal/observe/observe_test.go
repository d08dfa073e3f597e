package observe_test

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/observe"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func serve(t *testing.T, a *observe.Admin) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Run(t.Context()) }()
	t.Cleanup(func() { <-done })
	return "http://" + a.Addr()
}

// TestAdminHidesCmdline: pprof profiles are served, the command line is not
// (issue 13 item 14: it showed --secret-key and the SMTP password).
func TestAdminHidesCmdline(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := observe.ListenAdmin("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a)
	if code, _ := get(t, base+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/ = %d, want 200", code)
	}
	if code, _ := get(t, base+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d, want 200", code)
	}
	code, body := get(t, base+"/debug/pprof/cmdline")
	if code != 404 || strings.Contains(body, os.Args[0]) {
		t.Errorf("/debug/pprof/cmdline = %d %q, want 404 without the arguments", code, body)
	}
}

// TestMetricsListenerServesOnlyMetrics: the listener meant to be reachable
// by Prometheus has no pprof at all.
func TestMetricsListenerServesOnlyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := observe.ListenMetrics("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, a)
	if code, _ := get(t, base+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d, want 200", code)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		if code, _ := get(t, base+p); code != 404 {
			t.Errorf("%s = %d, want 404", p, code)
		}
	}
}
