package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zeebo/xxh3"

	"github.com/findash/findash/internal/cache"
	"github.com/findash/findash/internal/market"
)

// Header values shared by every response; net/http never mutates them.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	liveCache       = []string{"public, max-age=1"}
)

// response is a rendered, cacheable response body.
type response struct {
	body []byte
	etag []string // the strong ETag header value, quoted
	// clen is the Content-Length header value: with it net/http writes the
	// body as is instead of in chunks (a body over its 2 KiB buffer, such
	// as /api/v1/quotes, was chunked), as a bare handler does.
	clen []string
	// hdr backs etag and clen: one allocation for the response and both
	// header values' slices.
	hdr [2]string
}

// newResponse derives the ETag from the body alone, so that every
// instance, and the L2 cache's decode, tags the same body the same way.
// The hash is XXH3's 128 bits, not a cryptographic one: an ETag only has
// to change when the body does, and nothing compares it with a digest
// computed elsewhere; SHA-256 cost 7–9 µs per 3.6 KB refill
// (BenchmarkNewResponse), paid at every live key's refill.
func newResponse(body []byte) *response {
	sum := xxh3.Hash128(body).Bytes()
	var etag [34]byte
	etag[0], etag[33] = '"', '"'
	hex.Encode(etag[1:33], sum[:])
	r := &response{body: body}
	r.hdr = [2]string{string(etag[:]), strconv.Itoa(len(body))}
	r.etag, r.clen = r.hdr[0:1:1], r.hdr[1:2:2]
	return r
}

// responseCodec stores just the body in the L2 cache; the ETag is derived.
var responseCodec = cache.Codec[*response]{
	Encode: func(r *response) ([]byte, error) { return r.body, nil },
	Decode: func(b []byte) (*response, error) { return newResponse(b), nil },
}

// render encodes v as the JSON response body (with a trailing newline).
func render(v any) (*response, error) {
	if l, ok := v.(list[market.Candle]); ok {
		return newResponse(appendCandles(make([]byte, 0, 64+180*len(l.Data)), l)), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return newResponse(buf.Bytes()), nil
}

// appendCandles appends l as render's encoding/json would write it: the
// candles' own encoder into one buffer, where encoding/json called it per
// candle and then checked and compacted every byte it wrote again (5 % of
// an instance's CPU under the read mix). A cursor is base64url: nothing
// to escape.
func appendCandles(b []byte, l list[market.Candle]) []byte {
	b = append(b, `{"data":[`...)
	for i := range l.Data {
		if i > 0 {
			b = append(b, ',')
		}
		b = l.Data[i].AppendJSON(b)
	}
	if l.Data == nil {
		b = append(b[:len(b)-1], "null"...)
	} else {
		b = append(b, ']')
	}
	if l.NextCursor != "" {
		b = append(b, `,"next_cursor":"`...)
		b = append(b, l.NextCursor...)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

// serveCached answers r with the response cached under key, building it
// with build on a miss and caching it for ttl. cacheControl is sent as is.
func (a *API) serveCached(w http.ResponseWriter, r *http.Request, key string, ttl time.Duration, cacheControl []string, build func(ctx context.Context) (any, error)) {
	resp, err := a.cache.Get(r.Context(), key, ttl, func(ctx context.Context) (*response, error) {
		v, err := build(ctx)
		if err != nil {
			return nil, err
		}
		return render(v)
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeCached(w, r, resp, cacheControl)
}

// writeCached answers r with resp: 304 when If-None-Match matches its ETag.
func writeCached(w http.ResponseWriter, r *http.Request, resp *response, cacheControl []string) {
	h := w.Header()
	h["Cache-Control"] = cacheControl
	h["Etag"] = resp.etag
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && etagMatches(inm, resp.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = resp.clen
	w.Write(resp.body)
}

// writeJSON answers with v encoded as JSON, uncached.
func (a *API) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	resp, err := render(v)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if h["Cache-Control"] == nil {
		h["Cache-Control"] = noStore
	}
	w.WriteHeader(status)
	w.Write(resp.body)
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 §13.1.2)
// of the header's entity tags against etag.
func etagMatches(header []string, etag string) bool {
	for _, h := range header {
		for h != "" {
			var tag string
			tag, h, _ = strings.Cut(h, ",")
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			tag = strings.TrimPrefix(tag, "W/")
			if tag == etag {
				return true
			}
		}
	}
	return false
}

// list is the envelope of every list response (docs/decisions/0003).
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func maxAge(d time.Duration) []string {
	return []string{fmt.Sprintf("public, max-age=%d", max(1, int(d/time.Second)))}
}
