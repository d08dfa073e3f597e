package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/auth/argon2id"
)

// findash runs the command line in-process and returns its stdout, stderr
// and error.
func findash(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, nil, nil, &out, &errb)
	return out.String(), errb.String(), err
}

// TestUserCommands: create --api-key --quiet prints only the key (for
// KEY=$(…)); creating the same email again fails saying "user exists" and
// prints nothing; user key issues another working key for that user; an
// unknown email is refused.
func TestUserCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	common := []string{"--data-dir", dir, "--log-format", "json"}

	out, stderr, err := findash(t, append([]string{"user", "create", "--email", "Ops@Example.com", "--api-key", "--quiet"}, common...)...)
	if err != nil {
		t.Fatalf("user create: %v\n%s", err, stderr)
	}
	key1, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.ContainsAny(key1, " \n") || key1 == "" {
		t.Fatalf("user create --quiet printed %q, want the key alone on one line", out)
	}

	out, _, err = findash(t, append([]string{"user", "create", "--email", "ops@example.com", "--api-key"}, common...)...)
	if err == nil || !strings.HasPrefix(err.Error(), "user exists: ops@example.com") {
		t.Errorf("second user create = %v, want an error starting with \"user exists: ops@example.com\"", err)
	}
	if out != "" {
		t.Errorf("second user create printed %q, want nothing", out)
	}

	out, stderr, err = findash(t, append([]string{"user", "key", "--email", "ops@example.com", "--name", "laptop", "--quiet"}, common...)...)
	if err != nil {
		t.Fatalf("user key: %v\n%s", err, stderr)
	}
	key2 := strings.TrimSuffix(out, "\n")
	if key2 == key1 || strings.ContainsAny(key2, " \n") {
		t.Fatalf("user key --quiet printed %q, want a new key alone (first %q)", out, key1)
	}
	out, _, err = findash(t, append([]string{"user", "key", "--email", "ops@example.com"}, common...)...)
	if err != nil || !strings.HasPrefix(out, "api key for <ops@example.com> (shown once") {
		t.Errorf("user key = %q, %v; want the key with its sentence", out, err)
	}

	if _, _, err = findash(t, append([]string{"user", "key", "--email", "nobody@example.com"}, common...)...); err == nil || !strings.Contains(err.Error(), "no user nobody@example.com") {
		t.Errorf("user key for an unknown email = %v, want \"no user nobody@example.com\"", err)
	}
	if _, _, err = findash(t, append([]string{"user", "create", "--email", "q@example.com", "--quiet"}, common...)...); err == nil {
		t.Error("user create --quiet without --api-key succeeded, want an error (it would print nothing)")
	}

	// Both keys authenticate as the same user.
	cfg := testConfig(t, dir)
	st, err := openStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := auth.NewService(st, argon2id.New(argon2id.DefaultParams, 1), auth.Config{TouchEvery: -1}, slog.New(slog.DiscardHandler))
	p1, err1 := svc.Authenticate(context.Background(), "Bearer "+key1)
	p2, err2 := svc.Authenticate(context.Background(), "Bearer "+key2)
	if err1 != nil || err2 != nil || p1.UserID != p2.UserID {
		t.Errorf("keys authenticate as %+v (%v) and %+v (%v), want the same user", p1, err1, p2, err2)
	}
}
