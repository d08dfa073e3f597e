package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

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
}

func newResponse(body []byte) *response {
	sum := sha256.Sum256(body)
	etag := make([]byte, 0, 34)
	etag = append(etag, '"')
	etag = hex.AppendEncode(etag, sum[:16])
	etag = append(etag, '"')
	return &response{body: body, etag: []string{string(etag)}, clen: []string{strconv.Itoa(len(body))}}
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
