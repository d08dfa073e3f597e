package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/findash/findash/internal/api"
)

// BenchmarkQuotes serves GET /api/v1/quotes (every symbol) from the
// micro-cache through the whole middleware: the hot read path.
func BenchmarkQuotes(b *testing.B) {
	for _, path := range []string{"/api/v1/quotes", "/api/v1/quotes?symbols=BTC-USD,AAPL"} {
		b.Run(path, func(b *testing.B) {
			f := newFixture(b, func(c *api.Config, _ *api.Deps) {
				c.LiveTTL = 1 << 40 // stay cached for the whole run
				c.ReadLimit = api.Limit{Rate: -1}
			})
			h := f.api.Handler()
			req := httptest.NewRequest("GET", path, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("GET %s = %d", path, w.Code)
			}
			b.SetBytes(int64(w.Body.Len()))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := discardWriter{h: http.Header{}}
				h.ServeHTTP(&w, req)
			}
		})
	}
	b.Run("parallel/rate-limited", func(b *testing.B) {
		f := newFixture(b, func(c *api.Config, _ *api.Deps) {
			c.LiveTTL = 1 << 40
			c.ReadLimit = api.Limit{Rate: 1e9, Burst: 1e9}
		})
		h := f.api.Handler()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest("GET", "/api/v1/quotes", nil)
			for pb.Next() {
				w := discardWriter{h: http.Header{}}
				h.ServeHTTP(&w, req)
			}
		})
	})
}

// discardWriter is the cheapest ResponseWriter, so the benchmark measures
// the API rather than the recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
