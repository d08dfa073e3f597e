package api

import (
	"bytes"
	"strconv"
	"testing"
)

// TestResponseETag: the ETag is a strong tag of 32 hex digits derived from
// the body alone, so every instance (and the L2 cache's decode) gives the
// same body the same tag, and a changed body another.
func TestResponseETag(t *testing.T) {
	a, b := newResponse([]byte(`{"data":[1]}`+"\n")), newResponse([]byte(`{"data":[1]}`+"\n"))
	c := newResponse([]byte(`{"data":[2]}` + "\n"))
	if a.etag[0] != b.etag[0] || a.etag[0] == c.etag[0] {
		t.Errorf("etags %s %s %s: want the same body's equal, another's different", a.etag[0], b.etag[0], c.etag[0])
	}
	if tag := a.etag[0]; len(tag) != 34 || tag[0] != '"' || tag[33] != '"' {
		t.Errorf("etag %s: want 32 hex digits, quoted", tag)
	}
	if a.clen[0] != strconv.Itoa(len(a.body)) {
		t.Errorf("content length %s", a.clen[0])
	}
}

// BenchmarkNewResponse is a cache refill's hashing and header values, for
// the sizes of /api/v1/quotes (3.6 KB) and a candle list (15 KB).
func BenchmarkNewResponse(b *testing.B) {
	for _, n := range []int{3600, 15000} {
		body := bytes.Repeat([]byte(`{"t":1764244800000,"o":101.5},`), n/30)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				newResponse(body)
			}
		})
	}
}
