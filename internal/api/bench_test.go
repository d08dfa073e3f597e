package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

// BenchmarkAccessLog measures what the access log line costs a cached GET
// /api/v1/quotes: no logger, the production JSON handler (to io.Discard)
// at info, and at warn (the line is then not formatted).
func BenchmarkAccessLog(b *testing.B) {
	f := newFixture(b)
	for _, tc := range []struct {
		name string
		log  *slog.Logger
	}{
		{"none", nil},
		{"json-info", slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))},
		{"json-warn", slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			deps := api.Deps{Market: f.state, Candles: f.db, Publisher: f.pub, Parse: testParse, Auth: tokens{}, Now: func() time.Time { return testNow }}
			a := api.New(deps, api.Config{LiveTTL: 1 << 40, ReadLimit: api.Limit{Rate: -1}}, tc.log, nil)
			defer a.Close()
			h := a.Handler()
			req := httptest.NewRequest("GET", "/api/v1/quotes", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := discardWriter{h: http.Header{}}
				h.ServeHTTP(&w, req)
			}
		})
	}
}
