package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBenchSelf runs each `findash bench` mode against an instance it
// starts itself and checks the JSON result is sane: traffic flowed, nothing
// failed, nothing was lost, percentiles are ordered.
func TestBenchSelf(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three instances")
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, m map[string]any)
	}{
		{"api", []string{"bench", "api", "--self", "--duration", "2s", "--users", "20", "--json"}, func(t *testing.T, m map[string]any) {
			routes, _ := m["routes"].([]any)
			if len(routes) != 5 {
				t.Errorf("routes = %v, want the 5 routes of the mix", m["routes"])
			}
			for _, r := range routes {
				if rm, _ := r.(map[string]any); num(rm["requests"]) == 0 {
					t.Errorf("route %v had no requests", rm["route"])
				}
			}
		}},
		{"api-open-loop", []string{"bench", "api", "--self", "--duration", "2s", "--users", "20", "--rate", "200", "--json"}, func(t *testing.T, m map[string]any) {
			// Open loop: the users send 200 requests/s between them, on
			// schedule, whatever the server could do beyond.
			if num(m["offered_per_s"]) != 200 {
				t.Errorf("offered_per_s = %v, want 200", m["offered_per_s"])
			}
			if got := num(m["throughput_per_s"]); got < 150 || got > 220 {
				t.Errorf("throughput_per_s = %v, want about the offered 200", got)
			}
		}},
		{"ws", []string{"bench", "ws", "--self", "--duration", "2s", "--conns", "50", "--symbols", "10", "--rate", "500", "--json"}, func(t *testing.T, m map[string]any) {
			if num(m["connections"]) != 50 {
				t.Errorf("connections = %v, want 50", m["connections"])
			}
			if num(m["deliveries_per_s"]) <= 0 || num(m["deliveries"]) != num(m["expected_deliveries"]) {
				t.Errorf("deliveries %v of %v expected (%v/s), want all", m["deliveries"], m["expected_deliveries"], m["deliveries_per_s"])
			}
			if num(m["gaps"]) != 0 || num(m["out_of_order"]) != 0 {
				t.Errorf("gaps = %v, out_of_order = %v, want 0", m["gaps"], m["out_of_order"])
			}
			if _, ok := m["server_rss_per_conn_bytes"]; !ok {
				t.Error("no server_rss_per_conn_bytes")
			}
			if num(m["server_cpu_per_conn_us"]) <= 0 || num(m["server_cpu_per_delivery_us"]) <= 0 {
				t.Errorf("server CPU per connection %v µs, per delivery %v µs, want > 0", m["server_cpu_per_conn_us"], m["server_cpu_per_delivery_us"])
			}
		}},
		{"ingest", []string{"bench", "ingest", "--self", "--duration", "2s", "--batch", "200", "--workers", "2", "--json"}, func(t *testing.T, m map[string]any) {
			if num(m["ticks_accepted"]) <= 0 || num(m["visibility_samples"]) <= 0 {
				t.Errorf("ticks_accepted = %v, visibility_samples = %v, want > 0", m["ticks_accepted"], m["visibility_samples"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out, errb bytes.Buffer
			if err := run(ctx, tt.args, nil, nil, &out, &errb); err != nil {
				t.Fatalf("run(%q) = %v\nstderr:\n%s", tt.args, err, errb.String())
			}
			if strings.Contains(errb.String(), `"msg":"http request"`) {
				t.Errorf("the --self instance's access log reached stderr:\n%s", errb.String())
			}
			var m map[string]any
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, out.String())
			}
			for _, k := range []string{"throughput_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "drops"} {
				if _, ok := m[k]; !ok {
					t.Errorf("result lacks %q", k)
				}
			}
			if num(m["throughput_per_s"]) <= 0 {
				t.Errorf("throughput_per_s = %v, want > 0", m["throughput_per_s"])
			}
			if num(m["errors"]) != 0 || num(m["drops"]) != 0 {
				t.Errorf("errors = %v, drops = %v, want 0 (notes: %v)", m["errors"], m["drops"], m["notes"])
			}
			if p50, p99, mx := num(m["p50_ms"]), num(m["p99_ms"]), num(m["max_ms"]); !(p50 > 0 && p50 <= p99 && p99 <= mx) {
				t.Errorf("p50 %v, p99 %v, max %v: want 0 < p50 ≤ p99 ≤ max", p50, p99, mx)
			}
			tt.check(t, m)
			if t.Failed() {
				t.Logf("result: %s\nstderr:\n%s", out.String(), errb.String())
			}
		})
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
