package archive_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/market"
)

const goodManifest = `{"version":1,"date":"2026-11-02","symbols":[
 {"symbol":"BTC-USD","rows":3,"bytes":30,"min_ts":1793577600001,"max_ts":1793577600009,"min_seq":1,"max_seq":3,
  "files":[{"key":"ticks/date=2026-11-02/symbol=BTC-USD/part-0000-0123456789abcdef.parquet","rows":3,"bytes":30,"min_ts":1793577600001,"max_ts":1793577600009,
   "sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]},
 {"symbol":"EUR/USD","rows":1,"bytes":10,"min_ts":1793577600005,"max_ts":1793577600005,"min_seq":7,"max_seq":7,
  "files":[{"key":"ticks/date=2026-11-02/symbol=EUR%2FUSD/part-0000-0123456789abcdef.parquet","rows":1,"bytes":10,"min_ts":1793577600005,"max_ts":1793577600005,
   "sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]}]}`

func TestParseManifest(t *testing.T) {
	m, err := archive.ParseManifest([]byte(goodManifest), "2026-11-02", 0)
	if err != nil || len(m.Symbols) != 2 || m.Symbols[1].Files[0].Rows != 1 {
		t.Fatalf("ParseManifest(good) = %+v, %v", m, err)
	}
	for _, tc := range []struct{ name, from, to, date string }{
		{"other date", "", "", "2026-11-03"},
		{"bad date", "", "", "2026-13-01"},
		{"version", `"version":1`, `"version":2`, ""},
		{"unknown field", `"version":1,`, `"version":1,"x":1,`, ""},
		{"order", `"symbol":"BTC-USD"`, `"symbol":"FOO"`, ""},
		{"bad symbol", `"symbol":"BTC-USD"`, `"symbol":"btc usd"`, ""},
		{"key of another symbol", "symbol=BTC-USD/part", "symbol=ETH-USD/part", ""},
		{"key escapes", "symbol=BTC-USD/part-0000", "symbol=BTC-USD/../../x/part-0000", ""},
		{"rows do not add up", `"rows":3,"bytes":30,"min`, `"rows":4,"bytes":30,"min`, ""},
		{"ts outside the day", `"max_ts":1793577600009,"min_seq"`, `"max_ts":1793664000000,"min_seq"`, ""},
		{"bad checksum", "0123456789abcdef\"}]},", "0123456789abcdeg\"}]},", ""},
		{"trailing data", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := goodManifest
			if tc.from != "" {
				if !strings.Contains(data, tc.from) {
					t.Fatalf("%q not in the manifest", tc.from)
				}
				data = strings.Replace(data, tc.from, tc.to, 1)
			}
			if tc.name == "trailing data" {
				data += "{}"
			}
			date := tc.date
			if date == "" {
				date = "2026-11-02"
			}
			if _, err := archive.ParseManifest([]byte(data), date, 0); !errors.Is(err, market.ErrInvalid) {
				t.Errorf("ParseManifest() error = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := archive.ParseManifest([]byte(goodManifest), "2026-11-02", 100); !errors.Is(err, market.ErrInvalid) {
		t.Errorf("ParseManifest(over the size limit) error = %v, want ErrInvalid", err)
	}
}

// FuzzParseManifest: any input is refused with ErrInvalid or gives a
// manifest that passes its own checks again once re-encoded.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(goodManifest), "2026-11-02")
	f.Add([]byte(`{"version":1,"date":"2026-11-02","symbols":[]}`), "2026-11-02")
	f.Add([]byte(`{"version":1,"date":"2026-11-02","symbols":null}`), "2026-11-02")
	f.Add([]byte(`[]`), "x")
	f.Fuzz(func(t *testing.T, data []byte, date string) {
		m, err := archive.ParseManifest(data, date, 1<<16)
		if err != nil {
			if !errors.Is(err, market.ErrInvalid) {
				t.Fatalf("ParseManifest() error = %v, want ErrInvalid", err)
			}
			return
		}
		if m.Date != date || m.Version != 1 {
			t.Fatalf("ParseManifest() = date %q version %d", m.Date, m.Version)
		}
		for _, e := range m.Symbols {
			var rows int64
			for _, f := range e.Files {
				if !strings.HasPrefix(f.Key, "ticks/date="+date+"/symbol=") || strings.Contains(f.Key, "..") {
					t.Fatalf("accepted key %q", f.Key)
				}
				rows += f.Rows
			}
			if rows != e.Rows || len(e.Files) == 0 {
				t.Fatalf("accepted entry %+v", e)
			}
		}
	})
}
