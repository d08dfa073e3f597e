// Package objstore keeps files (reports) in object storage: Local, a
// directory on disk (stage 1), or S3, a bucket of any S3-compatible service
// through minio-go (stage 4). Both have the same two methods, Put and
// Open, and the same semantics: an object is replaced whole, a reader
// sees the old or the new object, a missing one is market.ErrNotFound.
//
// Downloads always go through findash: a report's URL is a findash URL
// signed by the report package, and the API streams the object from
// whichever store holds it. We chose that over S3 presigned URLs so the
// service's endpoint need not be reachable by users (it often is a private
// network address), the URL and its expiry work the same on every stage,
// and access stays checked and logged in one place; the cost is that the
// bytes pass through an API instance.
//
// Keys are slash-separated paths of [A-Za-z0-9._%=-] segments ('=' and '%'
// for Hive-style partitions such as symbol=EUR%2FUSD); anything else
// (.., absolute paths, empty segments) is refused, so a key never escapes
// the directory. Put writes to a temporary file and renames it into place:
// a reader sees the whole object or none. Local is safe for concurrent use.
//
// Imports. objstore imports only the domain (market) and minio-go. It must
// not import another adapter or a service: report reaches it through
// report.Objects, and only cmd/findash imports it.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/findash/findash/internal/market"
)

// Local stores objects as files under a directory.
type Local struct{ dir string }

// NewLocal returns a Local store rooted at dir, creating it if needed.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	return &Local{dir: dir}, nil
}

// CheckKey reports whether key is a well-formed object key.
func CheckKey(key string) error {
	if key == "" || len(key) > 512 {
		return market.Invalid("key", "must be 1-512 bytes")
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return market.Invalid("key", "%q has an empty, . or .. segment", key)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '=' || c == '%') {
				return market.Invalid("key", "%q has a character outside [A-Za-z0-9._=%%-/]", key)
			}
		}
	}
	return nil
}

// Put stores r's bytes under key, replacing any object there, and returns
// the size written. ctx is checked between writes.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, fmt.Errorf("put object: %w", err)
	}
	path := filepath.Join(l.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return 0, fmt.Errorf("put object %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return 0, fmt.Errorf("put object %s: %w", key, err)
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("put object %s: %w", key, err)
	}
	return n, nil
}

// Open returns the object under key; a missing one is market.ErrNotFound.
func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("open object: %w", err)
	}
	f, err := os.Open(filepath.Join(l.dir, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("object %s: %w", key, market.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open object %s: %w", key, err)
	}
	return f, nil
}

// Delete removes the object under key; a missing one is not an error.
func (l *Local) Delete(_ context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	if err := os.Remove(filepath.Join(l.dir, filepath.FromSlash(key))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
