package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// centrifugoConfig returns a Centrifugo v6 configuration (JSON) for bench
// runs: anonymous clients may connect and subscribe to the ticks
// namespace, the HTTP API takes apiKey, Prometheus metrics on /metrics.
func centrifugoConfig(port int, apiKey string) string {
	return fmt.Sprintf(`{
  "http_server": {"port": "%d", "address": "127.0.0.1"},
  "http_api": {"key": %q},
  "client": {"insecure": true, "allowed_origins": ["*"]},
  "channel": {"namespaces": [{"name": "ticks"}]},
  "prometheus": {"enabled": true},
  "log": {"level": "error"}
}`, port, apiKey)
}

// TestRunWSRealCentrifugo drives a real Centrifugo v6 server (the binary
// named by FINDASH_TEST_CENTRIFUGO; docs/benchmarks/ws.md says how to
// build it) through the adapter. CI does not build Centrifugo, so the
// test skips without it, even with FINDASH_TEST_REQUIRE=1.
func TestRunWSRealCentrifugo(t *testing.T) {
	bin := os.Getenv("FINDASH_TEST_CENTRIFUGO")
	if bin == "" {
		t.Skip("FINDASH_TEST_CENTRIFUGO (a centrifugo v6.9.1 binary) is not set")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(centrifugoConfig(port, "k")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", cfgPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // kills it: Wait would otherwise wait for ever
		cmd.Wait()
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(base + "/metrics"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("centrifugo did not answer within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, perPost := range []int{1, 10} {
		t.Run(fmt.Sprintf("ticks-per-post=%d", perPost), func(t *testing.T) {
			res, err := RunWS(ctx, WSConfig{Targets: []string{base}, Admins: []string{base}, ServerPIDs: []int{cmd.Process.Pid}, APIKey: "k", Proto: ProtoCentrifugo,
				Conns: 50, Symbols: 5, SubsPerConn: 2, Rate: 200, Duration: 2 * time.Second, TicksPerPost: perPost, NoDialBaseline: true})
			if err != nil {
				t.Fatal(err)
			}
			ws := res.WSResult
			if ws.Connections != 50 || res.Drops != 0 || res.Errors != 0 || ws.OutOfOrder != 0 || ws.TicksSent == 0 || ws.Deliveries != ws.TicksSent*20 {
				t.Errorf("connections %d, ticks %d, deliveries %d, drops %d, errors %d, out of order %d; notes %q",
					ws.Connections, ws.TicksSent, ws.Deliveries, res.Drops, res.Errors, ws.OutOfOrder, res.Notes)
			}
			if ws.ServerCPUPerDeliveryUS <= 0 || ws.ServerUserUSPerDelivery <= 0 || ws.GoroutinesMax <= 0 {
				t.Errorf("CPU %.2f µs per delivery (user %.2f), %v goroutines: want them read from /proc and /metrics",
					ws.ServerCPUPerDeliveryUS, ws.ServerUserUSPerDelivery, ws.GoroutinesMax)
			}
		})
	}
}
