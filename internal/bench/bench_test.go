package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		want   Quantiles // compared within HDR's 0.1 %
	}{
		{"empty", nil, Quantiles{}},
		{"one", []time.Duration{3 * time.Millisecond}, Quantiles{Count: 1, P50: 3, P90: 3, P99: 3, P999: 3, Max: 3, Mean: 3}},
		{"1..1000 ms", func() []time.Duration {
			var v []time.Duration
			for i := 1; i <= 1000; i++ {
				v = append(v, time.Duration(i)*time.Millisecond)
			}
			return v
		}(), Quantiles{Count: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}},
		{"below 1µs counts as 1µs", []time.Duration{0, -time.Second}, Quantiles{Count: 2, P50: 0.001, P90: 0.001, P99: 0.001, P999: 0.001, Max: 0.001, Mean: 0.001}},
		{"above 5 min is clamped", []time.Duration{time.Hour}, Quantiles{Count: 1, P50: 300000, P90: 300000, P99: 300000, P999: 300000, Max: 300000, Mean: 300000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram()
			for _, v := range tt.values {
				h.Record(v)
			}
			got := h.Quantiles()
			within := cmp.Comparer(func(a, b float64) bool {
				return a == b || (a-b)/max(a, b) < 0.002 && (b-a)/max(a, b) < 0.002
			})
			if !cmp.Equal(got, tt.want, within) {
				t.Errorf("Quantiles() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHistogramMergeAndEncoding(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	for i := 1; i <= 100; i++ {
		a.Record(time.Duration(i) * time.Millisecond)
		b.RecordMicros([]int64{int64(i+100) * 1000})
	}
	text, err := b.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var c Histogram
	if err := c.UnmarshalText(text); err != nil {
		t.Fatalf("UnmarshalText: %v", err)
	}
	if diff := cmp.Diff(b.Quantiles(), c.Quantiles()); diff != "" {
		t.Errorf("decoded histogram differs (-sent +decoded):\n%s", diff)
	}
	a.Merge(&c)
	q := a.Quantiles()
	if q.Count != 200 || q.Max < 199.9 || q.Max > 200.3 || q.P50 < 99.9 || q.P50 > 100.2 {
		t.Errorf("merged Quantiles() = %+v, want 200 samples, p50 ≈ 100ms, max ≈ 200ms", q)
	}
	// A histogram round-trips through JSON as a string (the child protocol).
	e := childEvent{Event: "done", Latency: a}
	js, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back childEvent
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", js, err)
	}
	if got := back.Latency.Quantiles(); got != q {
		t.Errorf("after JSON Quantiles() = %+v, want %+v", got, q)
	}
	if err := c.UnmarshalText([]byte("not base64!")); err == nil {
		t.Error("UnmarshalText(garbage) = nil, want an error")
	}
}

func TestParseTick(t *testing.T) {
	tests := []struct {
		msg      string
		ok       bool
		channel  string
		seq      uint64
		sentUsec int64
	}{
		{`{"type":"tick","channel":"ticks:B0001","seq":42,"data":{"symbol":"B0001","ts":1764244800123,"price":101.5,"size":1764244800123456}}`, true, "ticks:B0001", 42, 1764244800123456},
		{`{"type":"tick","channel":"ticks:BTC-USD","seq":7,"data":{"symbol":"BTC-USD","ts":1,"price":1,"size":0.25}}`, true, "ticks:BTC-USD", 7, 0},
		{`{"type":"tick","channel":"ticks:X","seq":7,"data":{"symbol":"X","ts":1,"price":1,"size":1.5e+15}}`, true, "ticks:X", 7, 1500000000000000},
		{`{"type":"tick","channel":"ticks:X","data":{}}`, false, "", 0, 0},
		{`{"type":"tick","seq":1}`, false, "", 0, 0},
	}
	for _, tt := range tests {
		got, ok := parseTick([]byte(tt.msg))
		if ok != tt.ok {
			t.Errorf("parseTick(%s) ok = %v, want %v", tt.msg, ok, tt.ok)
			continue
		}
		if ok && (string(got.channel) != tt.channel || got.seq != tt.seq || got.sentMicros != tt.sentUsec) {
			t.Errorf("parseTick(%s) = {%s %d %d}, want {%s %d %d}", tt.msg, got.channel, got.seq, got.sentMicros, tt.channel, tt.seq, tt.sentUsec)
		}
	}
}

func TestReaderCounts(t *testing.T) {
	f := newLocalFleet(fleetConfig{Symbols: []string{"A"}}) // B is outside the fleet's channels
	r := f.newReader(f.lat[0])
	now := time.Now().UnixMicro()
	sent := now - 2500 // 2.5 ms ago
	tick := func(ch string, seq uint64) string {
		return fmt.Sprintf(`{"type":"tick","channel":"ticks:%s","seq":%d,"data":{"symbol":"%s","ts":1,"price":1,"size":%d}}`, ch, seq, ch, sent)
	}
	frame := strings.Join([]string{
		`{"type":"ack","id":1}`,
		`{"type":"snapshot","channel":"ticks:A","data":{}}`,
		tick("A", 10), tick("A", 15), tick("B", 3), tick("A", 15), // 15 repeated: out of order
		`{"type":"gap","channel":"ticks:B","from":4,"to":9}`,
		tick("B", 10),
		`{"type":"error","id":2,"code":"rate_limited","message":"slow down"}`,
	}, "\n")
	var m msgCounts
	for msg := range bytes.SplitSeq([]byte(frame), []byte{'\n'}) {
		r.handle(msg, now, &m)
	}
	if want := (msgCounts{deliveries: 5, gaps: 1, outOfOrder: 1, errors: 1}); m != want {
		t.Errorf("counts = %+v, want %+v", m, want)
	}
	if !r.acked {
		t.Error("ack not seen")
	}
	if len(r.lat) != 5 || r.lat[0] != 2500 {
		t.Errorf("latencies = %v, want five of 2500µs", r.lat)
	}
}

// TestSinceSent: the latency comes back exactly across a wrap of the
// modulus, and the size a bench tick carries stays within the server's
// default tick limits.
func TestSinceSent(t *testing.T) {
	sent := int64(1764244800_999_999_000) // 1 ms before a multiple of 1e9 µs
	for _, lat := range []int64{0, 1, 2500, 999_999_999} {
		if got := sinceSent(sent+lat, sent%sentModulus); got != lat {
			t.Errorf("sinceSent(sent+%d) = %d, want %d", lat, got, lat)
		}
	}
	if max := float64(sentModulus) * 200; max > 1e15 {
		t.Errorf("size × a bench price reaches %g, above the default max notional", max)
	}
}

func TestSubscriptionsSpreadEvenly(t *testing.T) {
	syms := Symbols(100)
	got := subscribers(10_000, 1, syms)
	for _, s := range syms {
		if got[s] != 100 {
			t.Fatalf("subscribers[%s] = %d, want 100 (10,000 conns over 100 symbols)", s, got[s])
		}
	}
	if d := cmp.Diff([]string{"B0003", "B0004", "B0000"}, subscriptions(1, 3, Symbols(5))); d != "" {
		t.Errorf("subscriptions(1, 3, 5 symbols) (-want +got):\n%s", d)
	}
}

func TestBatchIsValidJSON(t *testing.T) {
	b := newBatch(3)
	now := time.UnixMicro(1764244800123456)
	body := b.build([]string{"A", "B", "C"}, 1, 4, now)
	var ticks []struct {
		Symbol string  `json:"symbol"`
		TS     int64   `json:"ts"`
		Price  float64 `json:"price"`
		Size   float64 `json:"size"`
	}
	if err := json.Unmarshal(body, &ticks); err != nil {
		t.Fatalf("build() = %s: %v", body, err)
	}
	var syms []string
	for _, tk := range ticks {
		syms = append(syms, tk.Symbol)
		if tk.TS != 1764244800123 || int64(tk.Size) != 800123456 || tk.Price <= 0 {
			t.Errorf("tick %+v: want ts 1764244800123, size 800123456 (µs mod 1e9), price > 0", tk)
		}
	}
	if d := cmp.Diff([]string{"B", "C", "A", "B"}, syms); d != "" {
		t.Errorf("symbols (-want +got):\n%s", d)
	}
	if err := json.Unmarshal(ingestBatch(nil, []string{"X", "Y"}, 0, 3, now), &ticks); err != nil || len(ticks) != 3 {
		t.Errorf("ingestBatch: %d ticks, %v", len(ticks), err)
	}
}

func TestResultFormats(t *testing.T) {
	r := &Result{Kind: "ws", Target: "http://127.0.0.1:8080", DurationS: 10, ThroughputPerS: 1_234_567, Samples: 12_345_670,
		P50MS: 1.234, P90MS: 12.5, P99MS: 150, MaxMS: 321,
		WSResult: &WSResult{Connections: 10000, ConnectPerS: 25000, Deliveries: 12_345_670, ExpectedDeliveries: 12_345_670,
			DeliveriesPerS: 1_234_567, ServerRSSPerConnBytes: 9 * 1024, Instances: 3, ServerCPUPerConnUS: 250, ServerCPUPerDeliveryUS: 7.5,
			ServerUserUSPerConn: 200, ServerSysUSPerConn: 50, WindowS: 8, ServerUserUSPerDelivery: 5, ServerSysUSPerDelivery: 2.5},
		Machine: Machine{CPUs: 2, GoVersion: "go1.26.8"}}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"throughput_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "drops",
		"connections", "deliveries_per_s", "gaps", "server_rss_per_conn_bytes", "instances", "server_cpu_per_conn_us", "server_cpu_per_delivery_us"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, js.String())
		}
	}
	if _, ok := m["routes"]; ok {
		t.Errorf("ws JSON has api's routes: %s", js.String())
	}
	var tab bytes.Buffer
	if err := r.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.23M/s", "p50 1.23ms  p90 12.5ms  p99 150ms", "10000 (0 failed) to 3 instance(s) at 25.0k/s", "9.0 KiB per connection",
		"250 µs (user 200, system 50)", "7.50 µs (user 5.00, system 2.50)"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
}

func TestHumanAndMs(t *testing.T) {
	for _, tt := range []struct {
		v         float64
		h, millis string
	}{{0, "0", "0.00ms"}, {999, "999", "999ms"}, {12_345, "12.3k", "12345ms"}, {2_500_000, "2.50M", "2500000ms"}, {5.5, "6", "5.50ms"}, {55.55, "56", "55.5ms"}} {
		if got := human(tt.v); got != tt.h {
			t.Errorf("human(%v) = %q, want %q", tt.v, got, tt.h)
		}
		if got := ms(tt.v); got != tt.millis {
			t.Errorf("ms(%v) = %q, want %q", tt.v, got, tt.millis)
		}
	}
}

func TestProgressPlainAndTTY(t *testing.T) {
	var plain, tty bytes.Buffer
	NewProgress(&plain, false).Printf("hello %d", 1)
	p := NewProgress(&tty, true)
	p.Phase("run")
	p.Printf("done")
	if plain.String() != "hello 1\n" {
		t.Errorf("plain = %q", plain.String())
	}
	if want := "\r\033[K[run]\ndone\n"; tty.String() != want {
		t.Errorf("tty = %q, want %q", tty.String(), want)
	}
}

// TestInstancesSpreadEverySymbol checks that with several instances each
// symbol's subscribers land on every instance, also when the number of
// instances divides the number of symbols (plain round robin would put all
// of a symbol's clients on one instance).
func TestInstancesSpreadEverySymbol(t *testing.T) {
	for _, tt := range []struct{ conns, instances, symbols int }{{3000, 2, 100}, {3000, 3, 100}, {50000, 3, 100}, {400, 4, 100}} {
		syms := Symbols(tt.symbols)
		per := make(map[string]map[int]int)
		load := make([]int, tt.instances)
		for g := range tt.conns {
			s := subscriptions(g, 1, syms)[0]
			i := instanceOf(g, tt.instances, tt.symbols)
			if per[s] == nil {
				per[s] = make(map[int]int)
			}
			per[s][i]++
			load[i]++
		}
		for s, m := range per {
			if len(m) != tt.instances {
				t.Errorf("%+v: symbol %s has subscribers on %d instances, want %d", tt, s, len(m), tt.instances)
				break
			}
		}
		for i, n := range load {
			if want := tt.conns / tt.instances; n < want-tt.symbols || n > want+tt.symbols {
				t.Errorf("%+v: instance %d holds %d connections, want about %d", tt, i, n, want)
			}
		}
	}
}

func TestLoopbackSources(t *testing.T) {
	for _, tt := range []struct{ conns, procs, want int }{{1, 0, 1}, {2000, 0, 1}, {2001, 0, 2}, {50000, 3, 25}, {20000, 12, 12}, {10_000_000, 0, 250}} {
		got := loopbackSources(tt.conns, tt.procs)
		if len(got) != tt.want {
			t.Errorf("loopbackSources(%d, %d) = %d addresses, want %d", tt.conns, tt.procs, len(got), tt.want)
		}
		for _, ip := range got {
			if !ip.IsLoopback() {
				t.Errorf("loopbackSources(%d) has %v, not loopback", tt.conns, ip)
			}
		}
	}
}
