package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestArchiveCommand imports two old ticks, then `findash archive` says what
// it would write (--dry-run, nothing written), writes it to the data dir's
// archive, and writes the same again on a second run.
func TestArchiveCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	csvPath := filepath.Join(dir, "ticks.csv")
	os.WriteFile(csvPath, []byte("symbol,ts,price,size\nBTC-USD,1709251200123,60000,0.5\nBTC-USD,1709251260000,60010,0.25\nEUR/USD,1709337600000,1.08,1000\n"), 0o644)
	common := []string{"--data-dir", data, "--log-format", "json"}
	if out, stderr, err := findash(t, append([]string{"import", "csv", csvPath}, common...)...); err != nil {
		t.Fatalf("import csv = %q, %v (%s)", out, err, stderr)
	}
	out, stderr, err := findash(t, append([]string{"archive", "--dry-run"}, common...)...)
	if err != nil || !strings.Contains(out, "would write 2 entries, 3 rows") || !strings.Contains(out, "2024-03-01  BTC-USD  2 rows") {
		t.Fatalf("archive --dry-run = %q, %v (%s)", out, err, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "archive", "ticks")); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote the archive (stat: %v)", err)
	}
	var first []byte
	for i := range 2 {
		out, stderr, err = findash(t, append([]string{"archive", "--before", "2024-03-03"}, common...)...)
		if err != nil || !strings.Contains(out, "wrote 2 entries, 3 rows") || !strings.Contains(out, "before 2024-03-03 is archived") {
			t.Fatalf("archive (#%d) = %q, %v (%s)", i+1, out, err, stderr)
		}
		m, err := os.ReadFile(filepath.Join(data, "archive", "ticks", "date=2024-03-02", "manifest.json"))
		if err != nil || !strings.Contains(string(m), `"symbol": "EUR/USD"`) {
			t.Fatalf("manifest of 2024-03-02 = %s, %v", m, err)
		}
		if i == 1 && string(m) != string(first) {
			t.Errorf("a second run changed the manifest")
		}
		first = m
	}
	parts, _ := filepath.Glob(filepath.Join(data, "archive", "ticks", "date=2024-03-02", "symbol=EUR%2FUSD", "part-0000-*.parquet"))
	if len(parts) != 1 {
		t.Errorf("EUR/USD parts = %v, want one", parts)
	}
	if _, _, err := findash(t, append([]string{"archive", "--archive", "off"}, common...)...); err == nil {
		t.Error("archive --archive off: no error")
	}
	if _, err := parseBefore("yesterday", time.Now()); err == nil {
		t.Error(`parseBefore("yesterday"): no error`)
	}
}
