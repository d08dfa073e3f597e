package hostile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/store/sqlite"
)

// readPaths are the public read endpoints every user depends on; a bad tick
// must never make one of them fail (issue 13 item 1).
var readPaths = []string{
	"/api/v1/quotes",
	"/api/v1/movers",
	"/api/v1/symbols",
	"/api/v1/candles/PSN-A",
	"/api/v1/candles/PSN-B",
	"/api/v1/candles/PSN-C",
	"/api/v1/candles/PSN-B?interval=1d",
	"/api/v1/candles/GOOD-USD",
}

// checkReads fails the test for every read endpoint that does not answer 200.
func checkReads(t *testing.T, s *server, when string) {
	t.Helper()
	for _, p := range readPaths {
		if code, body := s.Get(p); code != 200 {
			t.Errorf("%s: GET %s = %d %s, want 200", when, p, code, body)
		}
	}
}

// waitQuote waits until the quote of sym has price want.
func waitQuote(t *testing.T, s *server, sym string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := s.Get("/api/v1/quotes?symbols=" + sym)
		if code == 200 {
			var out struct {
				Data []market.Quote `json:"data"`
			}
			if json.Unmarshal([]byte(body), &out) == nil && len(out.Data) == 1 && out.Data[0].Price == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("quote of %s never became %v: %d %s", sym, want, code, body)
		}
		time.Sleep(20 * time.Millisecond) // polling another process
	}
}

// tickErrorBody is the 400 answer to a batch with bad lines.
type tickErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Lines   []struct {
			Line    int    `json:"line"`
			Field   string `json:"field"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"lines"`
	} `json:"error"`
}

// TestPoisonedTicksRejected posts the ticks that used to poison the read API
// for everyone (issue 13 items 1 and 4: a price of 1e-300, a size of 1e308,
// a tick dated 2099) and checks each is refused with 400 and its line's
// reason, nothing of a mixed batch is published, every read endpoint stays
// 200, also after a restart, and the rejections are counted by reason.
//
// Before the fix every poisoned tick was accepted (202); /quotes, /movers
// and /symbols then answered 500, and PSN-C's quote stayed frozen at 2099.
func TestPoisonedTicksRejected(t *testing.T) {
	s := startServer(t, options{user: "poison@example.com"})
	now := time.Now().UnixMilli()
	line := func(sym string, ts int64, price, size float64) string {
		return fmt.Sprintf(`{"symbol":%q,"ts":%d,"price":%g,"size":%g}`+"\n", sym, ts, price, size)
	}
	if code, body := s.PostTicks(line("GOOD-USD", now, 10, 1)); code != 202 {
		t.Fatalf("good tick: %d %s", code, body)
	}

	// The attack, one tick per request as a hostile key holder would send it.
	attack := []struct {
		name, body, reason string
	}{
		{"tiny price", line("PSN-A", now, 1e-300, 1), "price_too_low"},
		{"huge price after tiny", line("PSN-A", now+1, 1e9, 1), ""}, // valid alone at default bounds
		{"huge size", line("PSN-B", now, 1, 1e308), "size_too_large"},
		{"huge size again", line("PSN-B", now+1, 1, 1e308), "size_too_large"},
		{"notional", line("PSN-B", now+2, 1e9, 1e9), "notional_too_large"},
		{"dated 2099", line("PSN-C", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), 5, 1), "ts_in_future"},
		{"ten seconds ahead", line("PSN-C", now+10_000, 5, 1), "ts_in_future"},
		{"older than retention", line("PSN-C", now-8*24*3600*1000, 5, 1), "ts_too_old"},
		{"overflowing price", `{"symbol":"PSN-A","ts":` + fmt.Sprint(now) + `,"price":1e400,"size":1}` + "\n", "price_not_finite"},
		{"negative size", line("PSN-B", now, 1, -1), "size_negative"},
	}
	for _, a := range attack {
		code, body := s.PostTicks(a.body)
		if a.reason == "" {
			if code != 202 {
				t.Errorf("%s: POST = %d %s, want 202", a.name, code, body)
			}
			continue
		}
		var eb tickErrorBody
		if code != 400 || json.Unmarshal([]byte(body), &eb) != nil || eb.Error.Code != "invalid_tick" ||
			len(eb.Error.Lines) != 1 || eb.Error.Lines[0].Line != 1 || eb.Error.Lines[0].Reason != a.reason {
			t.Errorf("%s: POST = %d %s, want 400 invalid_tick with line 1 reason %s", a.name, code, body, a.reason)
		}
	}

	// A mixed batch: every bad line named, and nothing of it published.
	mixed := line("MIX-USD", now, 7, 1) + line("MIX-USD", now, 1e-300, 1) + "\n" +
		"not json\n" + line("MIX-USD", now, 7, 1e308) + line("MIX-USD", now, 8, 1)
	code, body := s.PostTicks(mixed)
	var eb tickErrorBody
	if code != 400 || json.Unmarshal([]byte(body), &eb) != nil {
		t.Fatalf("mixed batch: %d %s, want 400", code, body)
	}
	var got []string
	for _, l := range eb.Error.Lines {
		got = append(got, fmt.Sprintf("%d:%s", l.Line, l.Reason))
	}
	if want := "2:price_too_low 4:syntax 5:size_too_large"; strings.Join(got, " ") != want {
		t.Errorf("mixed batch lines = %v, want %s (%s)", got, want, body)
	}

	// A valid tick after the attack, in log order after every poisoned
	// one: once it shows, the state has seen everything that was accepted.
	if code, body := s.PostTicks(line("PSN-C", now+2, 6, 1) + line("GOOD-USD", now+3, 11, 1)); code != 202 {
		t.Fatalf("tick after the attack: %d %s", code, body)
	}
	waitQuote(t, s, "GOOD-USD", 11)
	checkReads(t, s, "after the attack")
	waitQuote(t, s, "PSN-C", 6)
	if code, body := s.Get("/api/v1/quotes?symbols=MIX-USD"); code != 200 || strings.Contains(body, "MIX-USD") {
		t.Errorf("a rejected batch was half-published: %d %s", code, body)
	}
	for _, r := range []string{"price_too_low", "size_too_large", "notional_too_large", "ts_in_future", "ts_too_old", "syntax"} {
		if v := s.Metric("findash_ingest_rejected_ticks_total", `reason="`+r+`"`); v < 1 {
			t.Errorf(`findash_ingest_rejected_ticks_total{reason=%q} = %v, want >= 1`, r, v)
		}
	}

	s.Restart()
	waitQuote(t, s, "GOOD-USD", 11)
	checkReads(t, s, "after a restart")
}

// TestPoisonedStoreAndLogRepaired starts findash on a data directory that
// the code before the fix wrote: poisoned ticks in the durable log (one
// message also persisted to the database with its candles, as the old
// persister did, one not yet persisted). The server must start, skip the
// bad values with a metric, answer 200 on every read, and take new ticks
// for the poisoned symbols (a tick dated 2099 must not freeze a quote).
//
// Before the fix /quotes, /movers and /symbols answered 500 after such a
// start and PSN-C's quote stayed at its 2099 tick.
func TestPoisonedStoreAndLogRepaired(t *testing.T) {
	s := startServer(t, options{user: "poison-store@example.com"})
	s.Stop()

	now := time.Now().UnixMilli()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(ctx, bus.Config{DataDir: s.Dir}, quiet)
	if err != nil {
		t.Fatalf("open the log: %v", err)
	}
	// What Tick.Validate let through before the fix.
	persisted := []market.Tick{
		{Symbol: "PSN-A", TS: now - 60_000, Price: 1e-300, Size: 1},
		{Symbol: "PSN-A", TS: now - 59_000, Price: 1e9, Size: 1},
		{Symbol: "PSN-B", TS: now - 60_000, Price: 1, Size: 1e308},
		{Symbol: "PSN-B", TS: now - 59_000, Price: 1, Size: 1e308},
		{Symbol: "PSN-C", TS: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Price: 5, Size: 1},
	}
	logged := []market.Tick{
		{Symbol: "PSN-A", TS: now - 58_000, Price: 1e-300, Size: 1},
		{Symbol: "PSN-B", TS: now - 58_000, Price: 1, Size: 1e308},
		{Symbol: "PSN-C", TS: time.Date(2099, 1, 1, 0, 1, 0, 0, time.UTC).UnixMilli(), Price: 5, Size: 1},
	}
	if err := b.Append(ctx, persisted); err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := b.Append(ctx, logged); err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatalf("close the log: %v", err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(s.Dir, "findash.db"), quiet)
	if err != nil {
		t.Fatalf("open the database: %v", err)
	}
	roll := market.NewRollup()
	for i := range persisted {
		roll.Add(&persisted[i])
	}
	from, to := persisted[0].Seq>>16, persisted[len(persisted)-1].Seq>>16
	if err := db.WriteBatch(ctx, market.Unpartitioned, persisted, roll.Candles(), 0, from, to); err != nil {
		t.Fatalf("write the poisoned batch: %v", err)
	}
	db.Close()

	s.start()
	line := func(sym string, ts int64, price float64) string {
		return fmt.Sprintf(`{"symbol":%q,"ts":%d,"price":%g,"size":1}`+"\n", sym, ts, price)
	}
	now = time.Now().UnixMilli()
	if code, body := s.PostTicks(line("PSN-C", now, 6) + line("PSN-B", now, 2) + line("GOOD-USD", now, 11)); code != 202 {
		t.Fatalf("ticks after the start: %d %s", code, body)
	}
	waitQuote(t, s, "GOOD-USD", 11)
	checkReads(t, s, "after a start on a poisoned store")
	waitQuote(t, s, "PSN-C", 6)
	for _, m := range []string{"findash_live_skipped_candles_total", "findash_live_skipped_ticks_total"} {
		if v := s.Metric(m); v < 1 {
			t.Errorf("%s = %v, want >= 1", m, v)
		}
	}
	if v := s.Metric("findash_persist_skipped_ticks_total"); v < 1 {
		t.Errorf("findash_persist_skipped_ticks_total = %v, want >= 1", v)
	}

	s.Restart()
	waitQuote(t, s, "GOOD-USD", 11)
	checkReads(t, s, "after a second restart")
}
