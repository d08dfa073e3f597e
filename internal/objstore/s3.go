package objstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/findash/findash/internal/market"
)

// S3Config configures an S3 store.
type S3Config struct {
	// Endpoint is the service's address: "https://host[:port]",
	// "http://host[:port]" (plain HTTP, for a local MinIO or a test), or a
	// bare "host[:port]" (HTTPS).
	Endpoint string
	// Bucket holds the objects; Open creates it when it does not exist.
	Bucket string
	// AccessKey and SecretKey are static credentials (both empty:
	// anonymous requests).
	AccessKey, SecretKey string
	// Region is the bucket's region ("" lets the client discover it, or
	// us-east-1 for services that do not care).
	Region string
	// PartSize is the multipart upload part size: an upload of unknown
	// length (every report) buffers one part in memory (default and
	// minimum 5 MiB; objects up to 10,000 parts).
	PartSize uint64
	// Transport is the HTTP transport (default: minio-go's, which has dial,
	// TLS-handshake and response-header timeouts).
	Transport http.RoundTripper
}

// S3 stores objects in a bucket of an S3-compatible service (AWS S3,
// MinIO, Ceph, R2, …) through minio-go. It is safe for concurrent use.
// Calls use minio-go's own retries (exponential backoff with jitter,
// bounded) and end with their ctx.
type S3 struct {
	c      *minio.Client
	bucket string
	region string
	part   uint64
	l      *slog.Logger
}

// NewS3 returns an S3 store for cfg. It does no I/O: call EnsureBucket
// to check the service and create the bucket. A missing bucket name or a
// malformed endpoint is market.ErrInvalid.
func NewS3(cfg S3Config, l *slog.Logger) (*S3, error) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("objstore: %w", market.Invalid("s3_bucket", "is required with an S3 endpoint"))
	}
	host, secure, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	opts := &minio.Options{
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath, // works with every S3-compatible service and any bucket name
		Transport:    cfg.Transport,
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		opts.Creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	}
	c, err := minio.New(host, opts)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 client: %w", err)
	}
	return &S3{c: c, bucket: cfg.Bucket, region: cfg.Region, part: max(cfg.PartSize, 5<<20), l: l.With("component", "objstore")}, nil
}

// EnsureBucket checks that the bucket exists and creates it if not
// (another instance creating it at the same time is fine).
func (s *S3) EnsureBucket(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("objstore: s3 bucket %s: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	if err := s.c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region}); err != nil {
		if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
			return fmt.Errorf("objstore: create s3 bucket %s: %w", s.bucket, err)
		}
	}
	s.l.Info("created bucket", "bucket", s.bucket)
	return nil
}

// parseEndpoint splits an endpoint into minio-go's host and TLS flag.
func parseEndpoint(ep string) (host string, secure bool, err error) {
	if ep == "" {
		return "", false, fmt.Errorf("objstore: %w", market.Invalid("s3_endpoint", "is empty"))
	}
	if !strings.Contains(ep, "://") {
		return ep, true, nil
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("objstore: %w", market.Invalid("s3_endpoint", "must be http(s)://host[:port] or host[:port]"))
	}
	return u.Host, u.Scheme == "https", nil
}

// Put uploads r's bytes under key, replacing any object there, and returns
// the size written. The upload is multipart with parts of S3Config.PartSize
// (one part buffered at a time): readers of the key see the old object or
// the whole new one, never part of it.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, fmt.Errorf("put object: %w", err)
	}
	// An empty stream is put with a known size of 0: a multipart upload of
	// unknown length sends it without a Content-Length, which some
	// services refuse.
	size := int64(-1)
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); err == io.EOF {
		size = 0
	} else if err != nil {
		return 0, fmt.Errorf("put object %s: %w", key, err)
	}
	info, err := s.c.PutObject(ctx, s.bucket, key, br, size, minio.PutObjectOptions{
		ContentType: contentType(key),
		PartSize:    s.part,
		// Integrity by Content-MD5 per part (plus TLS in production)
		// rather than a streaming (aws-chunked) payload signature, which
		// not every S3-compatible service decodes.
		SendContentMd5:       true,
		DisableContentSha256: true,
	})
	if err != nil {
		return 0, fmt.Errorf("put object %s: %w", key, err)
	}
	return info.Size, nil
}

// Open returns the object under key, streamed from the service as it is
// read; a missing one is market.ErrNotFound. ctx bounds the whole read.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("open object: %w", err)
	}
	obj, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy: Stat makes the request, so a missing object
		// is known now rather than at the first Read.
		_, err = obj.Stat()
		if err != nil {
			obj.Close()
		}
	}
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("object %s: %w", key, market.ErrNotFound)
		}
		return nil, fmt.Errorf("open object %s: %w", key, err)
	}
	return obj, nil
}

// Delete removes the object under key; a missing one is not an error (S3
// answers a delete of a missing key with success).
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	return nil
}

// Check reports whether the bucket is reachable (for /readyz), within 2 s.
func (s *S3) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err == nil && !ok {
		err = errors.New("bucket does not exist")
	}
	if err != nil {
		return fmt.Errorf("s3 bucket %s: %w", s.bucket, err)
	}
	return nil
}

// contentType guesses an object's MIME type from its key's extension.
func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".csv"):
		return "text/csv; charset=utf-8"
	case strings.HasSuffix(key, ".pdf"):
		return "application/pdf"
	}
	return "application/octet-stream"
}
