package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRolesServeOnlyTheirRoutes starts one instance per role and sends each
// every role's routes over real HTTP: a role's own routes are served, every
// other route answers 421 wrong_role in the contract's error shape, naming
// the role that serves it; the health checks answer everywhere
// (docs/reference/http.md, "Roles"; decision 0040).
func TestRolesServeOnlyTheirRoutes(t *testing.T) {
	type probe struct {
		role, method, path string
	}
	probes := []probe{
		{"ingest", "POST", "/api/v1/ticks"},
		{"gateway", "GET", "/ws"},
		{"api", "GET", "/api/v1/quotes"},
		{"api", "GET", "/api/v1/candles/AAPL"},
		{"api", "POST", "/api/v1/auth/login"},
		{"api", "GET", "/api/v1/openapi.json"},
		{"api", "GET", "/"},          // the dashboard
		{"api", "GET", "/s/BTC-USD"}, // a dashboard URL
		{"", "GET", "/livez"},        // every role
		{"", "GET", "/readyz"},       // every role
	}
	for _, role := range []string{"ingest", "gateway", "api", "worker"} {
		t.Run(role, func(t *testing.T) {
			dir := t.TempDir()
			key := createAPIKey(t, dir)
			in := start(t, testConfig(t, dir, "--roles", role))
			for _, p := range probes {
				var body io.Reader
				if p.method == "POST" {
					body = strings.NewReader(ndjson("AAPL", time.Now().UnixMilli(), 0, 1))
				}
				req, _ := http.NewRequest(p.method, in.url(p.path), body)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				served := p.role == "" || p.role == role
				if served {
					if resp.StatusCode == http.StatusMisdirectedRequest || resp.StatusCode >= 500 {
						t.Errorf("%s %s on a %s instance = %d %s, want it served", p.method, p.path, role, resp.StatusCode, b)
					}
					continue
				}
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != http.StatusMisdirectedRequest || e.Error.Code != "wrong_role" ||
					!strings.Contains(e.Error.Message, "the "+p.role+" role") || !strings.Contains(e.Error.Message, "runs the "+role+" role") {
					t.Errorf("%s %s on a %s instance = %d %s, want 421 wrong_role naming %s and %s", p.method, p.path, role, resp.StatusCode, b, p.role, role)
				}
			}
			// The gateway's route works as a real WebSocket, not just as
			// "not 421".
			if role == "gateway" {
				ws := dialWS(t, in, 0)
				ws.c.Close()
			}
			// Ingest really accepted the tick it was sent.
			if role == "ingest" {
				code, b := postTicks(t, in, key, ndjson("MSFT", time.Now().UnixMilli(), 0, 2))
				if code != http.StatusAccepted {
					t.Errorf("POST ticks on the ingest instance = %d %s, want 202", code, b)
				}
			}
		})
	}
}
