package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/api"
)

// lockedBuffer is an io.Writer safe for the handler's concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestAccessLogLevels(t *testing.T) {
	f := newFixture(t)
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps := api.Deps{Market: f.state, Candles: f.db, Publisher: f.pub, Parse: testParse,
		Auth: tokens{keyToken: {UserID: 1, APIKeyID: 7}}, Now: func() time.Time { return testNow }}
	a := api.New(deps, api.Config{}, log, nil)
	defer a.Close()
	h := a.Handler()
	tests := []struct {
		method, path string
		body         string
		header       string
		level        string
	}{
		{"GET", "/api/v1/quotes", "", "", "DEBUG"},
		{"HEAD", "/api/v1/symbols", "", "", "DEBUG"},
		{"GET", "/api/v1/nope", "", "", "INFO"},
		{"GET", "/api/v1/candles/BTC-USD?interval=9x", "", "", "INFO"},
		{"POST", "/api/v1/ticks", `[]`, "Bearer " + keyToken, "INFO"},
	}
	var want, got []string
	for _, tt := range tests {
		buf.mu.Lock()
		buf.b.Reset()
		buf.mu.Unlock()
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var line struct {
			Level     string `json:"level"`
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Status    int    `json:"status"`
		}
		buf.mu.Lock()
		for _, l := range bytes.Split(bytes.TrimSpace(buf.b.Bytes()), []byte("\n")) {
			var m struct{ Msg string }
			if json.Unmarshal(l, &m) == nil && m.Msg == "http request" {
				_ = json.Unmarshal(l, &line)
			}
		}
		buf.mu.Unlock()
		if line.RequestID == "" || line.RequestID != w.Header().Get("X-Request-Id") {
			t.Errorf("%s %s: request_id %q, header %q", tt.method, tt.path, line.RequestID, w.Header().Get("X-Request-Id"))
		}
		want = append(want, tt.method+" "+tt.path+" "+tt.level)
		got = append(got, tt.method+" "+tt.path+" "+line.Level)
		if line.Status != w.Code {
			t.Errorf("%s %s: logged status %d, answered %d", tt.method, tt.path, line.Status, w.Code)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log levels (-want +got):\n%s", diff)
	}
}
