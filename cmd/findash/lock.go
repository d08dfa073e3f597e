package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/findash/findash/internal/config"
)

// lockFileName is the file in the data dir that `findash serve` holds an
// exclusive lock on while it runs.
const lockFileName = "findash.lock"

// errDataDirLocked is returned by lockDataDir when another process holds
// the data dir.
var errDataDirLocked = errors.New("data dir in use")

// lockDataDir takes the data dir for this process when it keeps an engine
// there (the SQLite files, the embedded NATS JetStream store): a second
// `findash serve` on the same dir would otherwise start, share the SQLite
// file and fight over the JetStream store, and fail later and far less
// clearly. The lock is an flock(2) on data_dir/findash.lock, so the kernel
// drops it when the process dies, kill -9 included; the file stays and holds
// the owner's pid for the message. unlock releases it.
func lockDataDir(cfg config.Config) (unlock func(), err error) {
	if cfg.DatabaseURL != "" && cfg.NATSURL != "" {
		return func() {}, nil // only report files there, named per report
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		owner := "another process"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil {
				owner = fmt.Sprintf("another findash (pid %d)", pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("%w: %s is used by %s; stop it, or give this instance its own --data-dir", errDataDirLocked, cfg.DataDir, owner)
	}
	// Best effort: the pid is only for the message above.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
