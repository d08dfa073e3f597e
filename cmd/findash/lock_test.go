package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondServeRefused: a second serve on a data dir in use fails at once,
// naming the owner's pid, before it opens SQLite or the JetStream store; once
// the first has stopped, the dir is free again.
func TestSecondServeRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := start(t, testConfig(t, dir))

	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	err := run(ctx, []string{"serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--feed", "none", "--log-format", "json"}, nil, nil, &out, &errb)
	took := time.Since(t0)
	if !errors.Is(err, errDataDirLocked) || !strings.Contains(err.Error(), fmt.Sprintf("another findash (pid %d)", os.Getpid())) ||
		!strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("second serve = %v, want %v naming pid %d and --data-dir", err, errDataDirLocked, os.Getpid())
	}
	if took > 5*time.Second {
		t.Errorf("second serve took %v to refuse, want at once", took)
	}
	if lines := strings.Count(errb.String(), "\n"); lines != 1 || strings.Contains(errb.String(), "event log") || strings.Contains(errb.String(), "migrat") {
		t.Errorf("second serve logged %d lines, want only the start line (nothing opened):\n%s", lines, errb.String())
	}

	first.shutdown(t)
	start(t, testConfig(t, dir)).shutdown(t)
}

// TestLockOnlyWithLocalEngines: with PostgreSQL and an external NATS the
// data dir holds only report files, and instances may share it.
func TestLockOnlyWithLocalEngines(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.DatabaseURL, cfg.NATSURL = "postgres://db/x", "nats://127.0.0.1:4222"
	for range 2 {
		unlock, err := lockDataDir(cfg)
		if err != nil {
			t.Fatalf("lockDataDir without local engines = %v, want nil", err)
		}
		defer unlock()
	}
	cfg.NATSURL = "" // the embedded JetStream store lives there
	unlock, err := lockDataDir(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := lockDataDir(cfg); !errors.Is(err, errDataDirLocked) {
		t.Fatalf("second lockDataDir with the embedded NATS = %v, want %v", err, errDataDirLocked)
	}
}
