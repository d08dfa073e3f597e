package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartupLog: on a terminal (text) the start-up log shows the
// configuration as key=value pairs, one line for the job queue's
// migrations, and the URL within the first lines; in JSON durations are
// strings.
func TestStartupLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := testConfig(t, dir, "--log-format", "text")
	cfg.SecretKey = "a-secret-of-at-least-32-characters-000"
	in := start(t, cfg)
	in.shutdown(t)
	lines := strings.Split(in.logs.String(), "\n")
	if !strings.Contains(lines[0], `msg="starting findash"`) || !strings.Contains(lines[0], " config.data_dir="+dir+" ") ||
		!strings.Contains(lines[0], " config.feed=none ") || !strings.Contains(lines[0], " config.secret_key=xxxxx ") ||
		strings.Contains(lines[0], "{") || strings.Contains(lines[0], "a-secret-of") {
		t.Errorf("first line = %s\nwant the configuration as key=value pairs, secrets hidden", lines[0])
	}
	// The serving line comes right after the start-up steps. Lines of the
	// services it starts (their "started" lines, the first /readyz
	// requests) run concurrently and may come first on a loaded machine:
	// they are not counted.
	serving, jobMigrations, startup := -1, 0, 0
	for _, l := range lines {
		if serving < 0 && strings.Contains(l, `msg="findash is serving" url=http://`+in.addrs.HTTP) {
			serving = startup
		}
		if !concurrentWithServing(l) {
			startup++
		}
		if strings.Contains(l, "component=jobs") && strings.Contains(l, "migrat") {
			jobMigrations++
		}
	}
	if serving < 0 || serving > 7 {
		t.Errorf("the serving line is start-up line %d, want one of the first 8:\n%s", serving+1, in.logs)
	}
	if jobMigrations != 1 {
		t.Errorf("%d lines about the job queue's migrations, want 1:\n%s", jobMigrations, in.logs)
	}

	in = start(t, testConfig(t, dir))
	in.shutdown(t)
	var servingLine struct {
		Msg     string         `json:"msg"`
		Startup any            `json:"startup"`
		Config  map[string]any `json:"config"`
	}
	for l := range strings.Lines(in.logs.String()) {
		var m struct {
			Msg    string         `json:"msg"`
			Config map[string]any `json:"config"`
		}
		json.Unmarshal([]byte(l), &m)
		if m.Msg == "starting findash" && m.Config["shutdown_timeout"] != "10s" {
			t.Errorf("JSON config = %v, want shutdown_timeout \"10s\"", m.Config)
		}
		if m.Msg == "findash is serving" {
			json.Unmarshal([]byte(l), &servingLine)
		}
	}
	if s, ok := servingLine.Startup.(string); !ok || !strings.HasSuffix(s, "s") {
		t.Errorf("JSON startup = %#v, want a duration string like \"130ms\"\n%s", servingLine.Startup, in.logs)
	}
}

// TestRegionInEveryLogLine: --region names the region on every line, so the
// logs of two regions can be told apart where they are gathered.
func TestRegionInEveryLogLine(t *testing.T) {
	in := start(t, testConfig(t, filepath.Join(t.TempDir(), "data"), "--log-format", "text", "--region", "eu-1"))
	in.shutdown(t)
	n := 0
	for l := range strings.Lines(in.logs.String()) {
		n++
		if !strings.Contains(l, " region=eu-1") {
			t.Errorf("log line without region=eu-1: %s", l)
		}
	}
	if n == 0 {
		t.Fatal("no log line")
	}
}

// concurrentWithServing reports whether log line l is one a service logs
// as it starts, or a request's, which may precede the serving line.
func concurrentWithServing(l string) bool {
	for _, m := range []string{`msg="http request"`, ` started"`, `msg="River client started"`, `msg="live feed started"`} {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}
