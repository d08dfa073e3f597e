package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// pdfToText extracts the text of a PDF with poppler's pdftotext -layout (a
// real reader: it places the glyphs where the page draws them, so columns
// that overlap come out merged). Skipped when pdftotext is not installed,
// a failure with FINDASH_TEST_REQUIRE=1 (.ci/run installs poppler-utils).
func pdfToText(t *testing.T, b []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("FINDASH_TEST_REQUIRE") == "1" {
			t.Fatal("pdftotext is not installed (apt-get install poppler-utils) and FINDASH_TEST_REQUIRE=1")
		}
		t.Skip("pdftotext is not installed (apt-get install poppler-utils)")
	}
	in := filepath.Join(t.TempDir(), "r.pdf")
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "-layout", in, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// TestCSVAndPDFAgree builds the CSV and the PDF of one range: the CSV has
// ISO 8601 UTC times, prices at the symbol's precision and volumes without
// float noise, no still-open candle; and the PDF's summary row of each
// symbol, read back with a real PDF reader, is exactly the aggregate of the
// CSV's rows, column by column (so no two columns overlap).
func TestCSVAndPDFAgree(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	// BTC-USD: prices with one decimal (its precision here: every price is
	// written with exactly one), a volume whose float sum is noisy
	// (0.1 + 0.2 = 0.30000000000000004), and a candle still open at the
	// build time (t0), which neither file may show.
	btc := []market.Candle{
		{Symbol: "BTC-USD", Interval: market.Interval1m, Start: t0 - 3*60_000, Open: 43123.5, High: 43130, Low: 43100.1, Close: 43120, Volume: 0.1 + 0.2, Count: 2},
		{Symbol: "BTC-USD", Interval: market.Interval1m, Start: t0 - 2*60_000, Open: 43120, High: 43125.5, Low: 43010, Close: 43011.5, Volume: 1.25, Count: 3},
		{Symbol: "BTC-USD", Interval: market.Interval1m, Start: t0 - 60_000, Open: 43011.5, High: 43200, Low: 43011.5, Close: 43199.9, Volume: 12, Count: 7},
		{Symbol: "BTC-USD", Interval: market.Interval1m, Start: t0, Open: 43199.9, High: 43300, Low: 43199.9, Close: 43250, Volume: 5, Count: 1},
	}
	eur := []market.Candle{
		{Symbol: "EUR/USD", Interval: market.Interval1m, Start: t0 - 2*60_000, Open: 1.08, High: 1.08125, Low: 1.0799, Close: 1.081, Volume: 100000, Count: 1},
		{Symbol: "EUR/USD", Interval: market.Interval1m, Start: t0 - 60_000, Open: 1.081, High: 1.0812, Low: 1.08, Close: 1.08003, Volume: 250000, Count: 2},
	}
	if err := f.db.WriteBatch(ctx, market.Unpartitioned, nil, append(btc, eur...), 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	build := func(format report.Format) []byte {
		r, err := f.svc.Create(ctx, report.Report{UserID: f.user, Symbols: []string{"BTC-USD", "EUR/USD"}, Interval: market.Interval1m,
			From: t0 - 3*60_000, To: t0 + 60_000, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.BuildReport(ctx, r.ID, nil, false); err != nil {
			t.Fatal(err)
		}
		r, _ = f.svc.Get(ctx, f.user, r.ID)
		u, _ := f.svc.DownloadURL(r)
		rc, _, err := f.open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		return buf.Bytes()
	}
	rows, err := csv.NewReader(bytes.NewReader(build(report.CSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		report.CSVHeader,
		{"BTC-USD", "1m", "2025-11-27T11:57:00Z", "43123.5", "43130.0", "43100.1", "43120.0", "0.3", "2"},
		{"BTC-USD", "1m", "2025-11-27T11:58:00Z", "43120.0", "43125.5", "43010.0", "43011.5", "1.25", "3"},
		{"BTC-USD", "1m", "2025-11-27T11:59:00Z", "43011.5", "43200.0", "43011.5", "43199.9", "12", "7"},
		{"EUR/USD", "1m", "2025-11-27T11:58:00Z", "1.08000", "1.08125", "1.07990", "1.08100", "100000", "1"},
		{"EUR/USD", "1m", "2025-11-27T11:59:00Z", "1.08100", "1.08120", "1.08000", "1.08003", "250000", "2"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Fatalf("CSV (-want +got):\n%s", diff)
	}

	text := pdfToText(t, build(report.PDF))
	for _, sym := range []string{"BTC-USD", "EUR/USD"} {
		// The summary row the CSV's rows add up to.
		var sr [][]string
		for _, r := range rows[1:] {
			if r[0] == sym {
				sr = append(sr, r)
			}
		}
		num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		hi, lo, vol, ticks := num(sr[0][4]), num(sr[0][5]), 0.0, 0
		for _, r := range sr {
			hi, lo, vol = max(hi, num(r[4])), min(lo, num(r[5])), vol+num(r[7])
			n, _ := strconv.Atoi(r[8])
			ticks += n
		}
		dec := len(sr[0][3]) - strings.IndexByte(sr[0][3], '.') - 1
		open, cls := num(sr[0][3]), num(sr[len(sr)-1][6])
		wantRow := []string{sym, strconv.Itoa(len(sr)), strconv.Itoa(ticks), sr[0][2], sr[len(sr)-1][2],
			sr[0][3], report.FormatPrice(hi, dec), report.FormatPrice(lo, dec), sr[len(sr)-1][6],
			strconv.FormatFloat((cls-open)/open*100, 'f', 2, 64), report.FormatVolume(vol)}
		var got []string
		for _, line := range strings.Split(text, "\n") {
			if fs := strings.Fields(line); len(fs) > 0 && fs[0] == sym {
				got = fs
				break
			}
		}
		if diff := cmp.Diff(wantRow, got); diff != "" {
			t.Errorf("PDF summary row of %s (-from the CSV +in the PDF):\n%s\nPDF text:\n%s", sym, diff, text)
		}
	}
}
