package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
)

// TestRequestID: a valid X-Request-Id of the client is answered and
// logged as is (its first value); a missing, invalid or empty one is
// replaced by one the API makes, answered and logged alike. The caller's
// request is not modified (http.Handler's contract: a retrying proxy or a
// test reusing it would otherwise send the previous answer's id).
func TestRequestID(t *testing.T) {
	f := newFixture(t)
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps := api.Deps{Market: f.state, Candles: f.db, Publisher: f.pub, Parse: testParse,
		Auth: tokens{}, Now: func() time.Time { return testNow }}
	a := api.New(deps, api.Config{}, log, nil)
	defer a.Close()
	tests := []struct {
		name string
		ids  []string // the client's X-Request-Id values
		want string   // "" : one the API makes
	}{
		{"none", nil, ""},
		{"valid", []string{"abc-123.x:y_z"}, "abc-123.x:y_z"},
		{"two values", []string{"first", "second"}, "first"},
		{"invalid", []string{"has space"}, ""},
		{"empty", []string{""}, ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.mu.Lock()
			buf.b.Reset()
			buf.mu.Unlock()
			req := httptest.NewRequest("GET", "/api/v1/quotes", nil)
			if tt.ids != nil {
				req.Header["X-Request-Id"] = tt.ids
			}
			w := httptest.NewRecorder()
			a.Handler().ServeHTTP(w, req)
			if sent := req.Header["X-Request-Id"]; !slices.Equal(sent, tt.ids) {
				t.Errorf("the request's X-Request-Id became %q, was %q", sent, tt.ids)
			}
			got := w.Header()["X-Request-Id"]
			if len(got) != 1 || got[0] == "" {
				t.Fatalf("X-Request-Id = %q, want one value", got)
			}
			if tt.want != "" && got[0] != tt.want {
				t.Errorf("X-Request-Id = %q, want %q", got[0], tt.want)
			}
			if tt.want == "" && (seen[got[0]] || (len(tt.ids) > 0 && got[0] == tt.ids[0])) {
				t.Errorf("X-Request-Id = %q, want a new one", got[0])
			}
			seen[got[0]] = true
			var line struct {
				RequestID string `json:"request_id"`
			}
			buf.mu.Lock()
			err := json.Unmarshal(buf.b.Bytes(), &line)
			buf.mu.Unlock()
			if err != nil || line.RequestID != got[0] {
				t.Errorf("access log request_id = %q (%v), want %q", line.RequestID, err, got[0])
			}
		})
	}
}
