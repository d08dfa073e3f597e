package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/objstore"
)

// store is what both implementations provide.
type store interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

var (
	_ store = (*objstore.Local)(nil)
	_ store = (*objstore.S3)(nil)
)

// newS3 starts an in-process S3-compatible server (gofakes3, in-memory
// backend) on a loopback httptest server and opens bucket on it.
func newS3(t *testing.T, bucket string) (*objstore.S3, string) {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	s, err := objstore.NewS3(objstore.S3Config{Endpoint: srv.URL, Bucket: bucket,
		AccessKey: "findash", SecretKey: "findash-secret", Region: "us-east-1"}, nil)
	if err != nil {
		t.Fatalf("NewS3() error: %v", err)
	}
	if err := s.EnsureBucket(t.Context()); err != nil {
		t.Fatalf("EnsureBucket() error: %v", err)
	}
	return s, srv.URL
}

func TestStores(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) store
	}{
		{"local", func(t *testing.T) store {
			l, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return l
		}},
		{"s3", func(t *testing.T) store { s, _ := newS3(t, "reports"); return s }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testStore(t, st.open(t)) })
	}
}

func read(t *testing.T, s store, key string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q) error: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

// onlyReader hides a reader's other methods (WriterTo, Seeker, Len), so
// the store sees a stream of unknown length, as a report is.
type onlyReader struct{ io.Reader }

func testStore(t *testing.T, s store) {
	ctx := t.Context()
	n, err := s.Put(ctx, "reports/1/r.csv", onlyReader{strings.NewReader("a,b\n")})
	if err != nil || n != 4 {
		t.Fatalf("Put() = %d, %v; want 4, nil", n, err)
	}
	if b := read(t, s, "reports/1/r.csv"); string(b) != "a,b\n" {
		t.Errorf("Open() read %q, want %q", b, "a,b\n")
	}
	// Replacing an object.
	if _, err := s.Put(ctx, "reports/1/r.csv", onlyReader{strings.NewReader("c,d,e\n")}); err != nil {
		t.Fatal(err)
	}
	if b := read(t, s, "reports/1/r.csv"); string(b) != "c,d,e\n" {
		t.Errorf("Open() after replace read %q", b)
	}
	// An empty object.
	if n, err := s.Put(ctx, "reports/1/empty.csv", onlyReader{strings.NewReader("")}); err != nil || n != 0 {
		t.Fatalf("Put(empty) = %d, %v; want 0, nil", n, err)
	}
	if b := read(t, s, "reports/1/empty.csv"); len(b) != 0 {
		t.Errorf("Open(empty) read %d bytes", len(b))
	}
	// 12 MiB of unknown length: more than two multipart parts on S3.
	big := make([]byte, 12<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(big)
	if n, err := s.Put(ctx, "reports/2/big.pdf", onlyReader{bytes.NewReader(big)}); err != nil || n != int64(len(big)) {
		t.Fatalf("Put(12 MiB) = %d, %v; want %d, nil", n, err, len(big))
	}
	if got := read(t, s, "reports/2/big.pdf"); sha256.Sum256(got) != sha256.Sum256(big) {
		t.Fatalf("Open(12 MiB) read %d bytes that differ from what was put", len(got))
	}
	if _, err := s.Open(ctx, "reports/2/r.csv"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Open(missing) error = %v, want ErrNotFound", err)
	}
	for _, k := range []string{"", "../x", "a/../../x", "/abs", "a//b", "a b", `a\b`, strings.Repeat("k", 513)} {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("Put(%.20q) error = %v, want ErrInvalid", k, err)
		}
		if _, err := s.Open(ctx, k); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("Open(%.20q) error = %v, want ErrInvalid", k, err)
		}
	}
	// Hive-style partition keys; Delete, twice.
	if _, err := s.Put(ctx, "ticks/date=2026-12-01/symbol=EUR%2FUSD/p.parquet", strings.NewReader("x")); err != nil {
		t.Fatalf("Put(partition key) error: %v", err)
	}
	for range 2 {
		if err := s.Delete(ctx, "ticks/date=2026-12-01/symbol=EUR%2FUSD/p.parquet"); err != nil {
			t.Errorf("Delete() error: %v", err)
		}
	}
	if _, err := s.Open(ctx, "ticks/date=2026-12-01/symbol=EUR%2FUSD/p.parquet"); !errors.Is(err, market.ErrNotFound) {
		t.Errorf("Open(deleted) error = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "../x"); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("Delete(../x) error = %v, want ErrInvalid", err)
	}
	// A failing reader fails the Put and leaves the old object in place.
	_, err = s.Put(ctx, "reports/1/r.csv", io.MultiReader(strings.NewReader("partial"), iotestErr{}))
	if err == nil {
		t.Fatal("Put(failing reader) error = nil")
	}
	if b := read(t, s, "reports/1/r.csv"); string(b) != "c,d,e\n" {
		t.Errorf("after a failed Put, Open() read %q, want the old object", b)
	}
	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "reports/3/x.csv", strings.NewReader("x")); err == nil {
		t.Error("Put(cancelled ctx) error = nil")
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestS3Bucket(t *testing.T) {
	s, url := newS3(t, "findash-reports")
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check() = %v", err)
	}
	// Another instance finds the bucket the first one created.
	s2, err := objstore.NewS3(objstore.S3Config{Endpoint: url, Bucket: "findash-reports", Region: "us-east-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.EnsureBucket(t.Context()); err != nil {
		t.Fatalf("EnsureBucket(existing bucket) error: %v", err)
	}
	// A bucket that is not there fails the check.
	s3, err := objstore.NewS3(objstore.S3Config{Endpoint: url, Bucket: "other", Region: "us-east-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Check(t.Context()); err == nil {
		t.Error("Check(missing bucket) = nil")
	}
	for _, cfg := range []objstore.S3Config{
		{Endpoint: "", Bucket: "b"},
		{Endpoint: url, Bucket: ""},
		{Endpoint: "ftp://host", Bucket: "b"},
		{Endpoint: url + "/some/path", Bucket: "b"},
	} {
		if _, err := objstore.NewS3(cfg, nil); !errors.Is(err, market.ErrInvalid) {
			t.Errorf("NewS3(%+v) error = %v, want ErrInvalid", cfg, err)
		}
	}
	// A service that is not there: EnsureBucket and Check fail.
	dead := httptest.NewServer(nil)
	dead.Close()
	d, err := objstore.NewS3(objstore.S3Config{Endpoint: dead.URL, Bucket: "b", Region: "us-east-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := d.EnsureBucket(ctx); err == nil {
		t.Error("EnsureBucket(closed server) error = nil")
	}
	if err := d.Check(ctx); err == nil {
		t.Error("Check(closed server) error = nil")
	}
}
