package observe_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/observe"
)

// TestLoggerDurations: durations read "60ms" in both formats, nested in a
// group too, where JSON would write 60000000.
func TestLoggerDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		log := observe.NewLogger(&b, format, "info")
		log.Info("stopped", "after", 60*time.Millisecond, slog.Group("config", slog.Duration("shutdown_timeout", 30*time.Second)), "n", 3)
		log.Debug("hidden at info")
		out := b.String()
		if strings.Contains(out, "60000000") || strings.Contains(out, "hidden") {
			t.Errorf("%s log = %s", format, out)
		}
		if format == "text" {
			if !strings.Contains(out, "after=60ms") || !strings.Contains(out, "config.shutdown_timeout=30s") {
				t.Errorf("text log = %s", out)
			}
			continue
		}
		var m struct {
			After  string         `json:"after"`
			N      int            `json:"n"`
			Config map[string]any `json:"config"`
		}
		if err := json.Unmarshal(b.Bytes(), &m); err != nil {
			t.Fatalf("json log %q: %v", out, err)
		}
		if m.After != "60ms" || m.Config["shutdown_timeout"] != "30s" || m.N != 3 {
			t.Errorf("json log = %s, want after \"60ms\", shutdown_timeout \"30s\", n 3", out)
		}
	}
}
