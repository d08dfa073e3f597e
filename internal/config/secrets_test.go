package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsRefusedOnCommandLine: a secret flag fails at once, naming the
// safe alternatives; URLs without credentials stay allowed as flags.
func TestSecretsRefusedOnCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{"--secret-key", "0123456789abcdef0123456789abcdef"},
		{"--s3-secret-key", "s3cr3t"},
		{"--database-url", "postgres://u:hunter2@db/x"},
		{"--database-url", "postgres://u@db/x?password=hunter2"},
		{"--database-replica-urls", "postgres://db2/x,postgres://u:pw@db3/x"},
		{"--redis-url", "redis://:pw9@r:6379"},
		{"--nats-url", "nats://s3cr3ttoken@n:4222"},
		{"--smtp-url", "smtp://u:pw@mail:25"},
	} {
		_, err := load(t, args, nil)
		if err == nil || !strings.Contains(err.Error(), "command line") || !strings.Contains(err.Error(), "FINDASH_") {
			t.Errorf("Load(%v) = %v, want a command-line secret error naming the environment variable", args, err)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(args[1], "postgres://u:")) {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
	for _, args := range [][]string{
		{"--database-url", "postgres://postgres@127.0.0.1/test?sslmode=disable"},
		{"--redis-url", "redis://127.0.0.1:6379/0"},
		{"--nats-url", "nats://127.0.0.1:4222"},
	} {
		if _, err := load(t, args, nil); err != nil {
			t.Errorf("Load(%v) = %v, want no error (no credential in it)", args, err)
		}
	}
}

// TestSecretsFromFiles: --<name>-file and FINDASH_<NAME>_FILE read the
// secret from a file; setting the value and its file both is an error.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdefFILE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, []string{"--secret-key-file", key}, nil)
	if err != nil || c.SecretKey != "0123456789abcdef0123456789abcdefFILE" {
		t.Fatalf("--secret-key-file: key %q, err %v", c.SecretKey, err)
	}
	c, err = load(t, nil, []string{"FINDASH_SECRET_KEY_FILE=" + key})
	if err != nil || c.SecretKey != "0123456789abcdef0123456789abcdefFILE" {
		t.Fatalf("FINDASH_SECRET_KEY_FILE: key %q, err %v", c.SecretKey, err)
	}
	if strings.Contains(c.String(), "FILE") && strings.Contains(c.String(), "0123456789abcdef") {
		t.Errorf("String() shows the secret read from a file: %s", c.String())
	}
	if _, err := load(t, []string{"--secret-key-file", key}, []string{"FINDASH_SECRET_KEY=0123456789abcdef0123456789abcdefENV"}); err == nil {
		t.Error("a value and its file both set: no error")
	}
	if _, err := load(t, []string{"--secret-key-file", filepath.Join(dir, "missing")}, nil); err == nil {
		t.Error("a missing secret file: no error")
	}
	urls := filepath.Join(dir, "replicas")
	os.WriteFile(urls, []byte("postgres://u:a@r1/x\npostgres://u:b@r2/x\n"), 0o600)
	c, err = load(t, []string{"--database-replica-urls-file", urls}, nil)
	if err != nil || len(c.DatabaseReplicaURLs) != 2 {
		t.Fatalf("--database-replica-urls-file: %v, err %v", c.DatabaseReplicaURLs, err)
	}
}
