package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/findash/findash/internal/testenv"
)

// regionLink is a toxiproxy proxy, inside the test process, on the NATS
// leafnode link from region b to region a.
type regionLink struct {
	t *testing.T
	p *toxiproxy.Proxy
}

func newRegionLink(t *testing.T, upstream string) *regionLink {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "region_link", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &regionLink{t: t, p: p}
}

// toxic adds a toxic of type typ with attrs to both directions.
func (l *regionLink) toxic(typ, attrs string) {
	l.t.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		_, err := l.p.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
			`{"name":"%s_%s","type":%q,"stream":%q,"toxicity":1,"attributes":{%s}}`, typ, stream, typ, stream, attrs)))
		if err != nil {
			l.t.Fatalf("toxiproxy: add %s %s: %v", typ, stream, err)
		}
	}
}

// remove removes the toxics of type typ.
func (l *regionLink) remove(typ string) {
	l.t.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		if err := l.p.Toxics.RemoveToxic(context.Background(), typ+"_"+stream); err != nil {
			l.t.Fatalf("toxiproxy: remove %s %s: %v", typ, stream, err)
		}
	}
}

// regionClient is a WebSocket client that records every tick it receives
// (with the moment it read it) and every status message.
type regionClient struct {
	t     *testing.T
	c     *websocket.Conn
	mu    sync.Mutex
	ticks map[string][]recvTick // by symbol, in arrival order
	state []string              // status states received, in order
	ended error                 // the read loop's end (nil while connected)
	done  chan struct{}
}

type recvTick struct {
	seq   uint64
	price float64
	ts    int64     // the tick's ts: ms, when it was posted
	at    time.Time // when the client read it
}

func dialRegion(t *testing.T, in *instance, syms []string) *regionClient {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+in.addrs.HTTP+"/ws", nil)
	if err != nil {
		t.Fatalf("dial /ws: %v (%v)", err, resp)
	}
	rc := &regionClient{t: t, c: c, ticks: make(map[string][]recvTick), done: make(chan struct{})}
	t.Cleanup(func() { c.Close(); <-rc.done })
	go rc.read()
	chans := make([]string, len(syms))
	for i, s := range syms {
		chans[i] = "ticks:" + s
	}
	if err := c.WriteJSON(map[string]any{"op": "subscribe", "id": 1, "channels": chans}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return rc
}

func (rc *regionClient) read() {
	defer close(rc.done)
	for {
		_, data, err := rc.c.ReadMessage()
		at := time.Now()
		if err != nil {
			rc.mu.Lock()
			rc.ended = err
			rc.mu.Unlock()
			return
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var m struct {
				Type  string `json:"type"`
				Seq   uint64 `json:"seq"`
				State string `json:"state"`
				Data  struct {
					Symbol string  `json:"symbol"`
					TS     int64   `json:"ts"`
					Price  float64 `json:"price"`
				} `json:"data"`
			}
			if err := json.Unmarshal(line, &m); err != nil {
				rc.t.Errorf("bad server message %q: %v", line, err)
				continue
			}
			rc.mu.Lock()
			switch m.Type {
			case "tick":
				rc.ticks[m.Data.Symbol] = append(rc.ticks[m.Data.Symbol], recvTick{m.Seq, m.Data.Price, m.Data.TS, at})
			case "status":
				rc.state = append(rc.state, m.State)
			case "gap":
				rc.t.Errorf("gap: %s", line)
			}
			rc.mu.Unlock()
		}
	}
}

// count returns how many ticks of sym the client has.
func (rc *regionClient) count(sym string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.ticks[sym])
}

// lastState returns the last status state received ("" when none).
func (rc *regionClient) lastState() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.state) == 0 {
		return ""
	}
	return rc.state[len(rc.state)-1]
}

func (rc *regionClient) snapshot(sym string) []recvTick {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.ticks[sym])
}

// poster posts one tick per symbol at a time, each with a price of its
// own (its identity), and counts what the region acknowledged (202).
type poster struct {
	t     *testing.T
	in    *instance
	key   string
	syms  []string
	base  int            // prices are base+1, base+2, …: unique across posters
	n     int            // ticks posted per symbol
	acked map[string]int // acknowledged ticks per symbol
}

// post posts one batch: a tick of each symbol with ts now. It returns the
// HTTP status.
func (p *poster) post() int {
	p.t.Helper()
	var sb strings.Builder
	ts := time.Now().UnixMilli()
	p.n++
	for _, s := range p.syms {
		fmt.Fprintf(&sb, `{"symbol":%q,"ts":%d,"price":%d,"size":1}`+"\n", s, ts, p.base+p.n)
	}
	req, _ := http.NewRequest("POST", p.in.url("/api/v1/ticks"), strings.NewReader(sb.String()))
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatalf("POST /api/v1/ticks: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		for _, s := range p.syms {
			p.acked[s]++
		}
	}
	return resp.StatusCode
}

// TestTwoRegions runs findash in two regions on this machine (decision
// 0036): region a holds the tick log on its NATS server (JetStream domain
// a), region b (roles ingest, gateway, api) mirrors it on its own NATS
// server, linked to a's by a leafnode through toxiproxy, which adds 80 ms
// each way. Ticks ingested in either region reach clients in both, with the
// same seqs. Then the link is partitioned (nothing passes, connections stay
// open) while a keeps ingesting: b's client keeps its connection and is
// told its data is stale, b's ingest answers 503; after healing b's client
// is told the data is live and receives every tick a acknowledged, once,
// with a's seqs. It logs the cross-region latency (tick posted in a → read
// by the client in b); FINDASH_REGIONS_SAMPLES sets how many batches
// measure it (default 200).
func TestTwoRegions(t *testing.T) {
	samples := 200
	if v := os.Getenv("FINDASH_REGIONS_SAMPLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FINDASH_REGIONS_SAMPLES=%q: want a positive integer", v)
		}
		samples = n
	}
	natsA := testenv.NATSRegion(t, "a", "")
	link := newRegionLink(t, natsA.LeafAddr)
	natsB := testenv.NATSRegion(t, "b", link.p.Listen)
	testenv.Eventually(t, 10*time.Second, natsB.Linked, "region b's leafnode to a never came up")

	dirA, dirB := t.TempDir(), t.TempDir()
	keyA, keyB := createAPIKey(t, dirA), createAPIKey(t, dirB)
	a := start(t, testConfig(t, dirA, "--nats-url", natsA.URL, "--region", "a"))
	b := start(t, testConfig(t, dirB, "--nats-url", natsB.URL, "--region", "b",
		"--roles", "ingest,gateway,api", "--stream-mirror-domain", "a", "--region-stale-after", "2s"))
	syms := []string{"RGA", "RGB", "RGC"}
	ca, cb := dialRegion(t, a, syms), dialRegion(t, b, syms)
	pa := &poster{t: t, in: a, key: keyA, syms: syms, acked: map[string]int{}}
	pb := &poster{t: t, in: b, key: keyB, syms: syms, base: 1_000_000, acked: map[string]int{}}
	allArrived := func(want int) func() bool {
		return func() bool {
			for _, s := range syms {
				if ca.count(s) < want || cb.count(s) < want {
					return false
				}
			}
			return true
		}
	}

	counts := func() string {
		var sb strings.Builder
		for _, s := range syms {
			fmt.Fprintf(&sb, "%s: a %d, b %d; ", s, ca.count(s), cb.count(s))
		}
		return sb.String()
	}

	// Ingested in b: stored by a's log, read in both regions.
	if code := pb.post(); code != http.StatusAccepted {
		t.Fatalf("POST in region b = %d, want 202", code)
	}
	testenv.Eventually(t, 10*time.Second, allArrived(1), "a tick ingested in b did not reach both regions' clients")

	// Cross-region latency, ingested in a and read in b: first on the
	// bare link (the baseline of the same run), then with 80 ms each way.
	total := 1 // b's first tick
	measure := func(label string) {
		t.Helper()
		first := pa.n + 1
		pace := time.NewTicker(20 * time.Millisecond)
		for range samples {
			if code := pa.post(); code != http.StatusAccepted {
				t.Fatalf("POST in region a = %d, want 202", code)
			}
			<-pace.C
		}
		pace.Stop()
		total += samples
		if !testenv.WaitFor(60*time.Second, allArrived(total)) {
			t.Fatalf("ticks ingested in a did not all reach both regions' clients within 60 s: want %d per symbol; %s", total, counts())
		}
		for _, c := range []struct {
			name string
			rc   *regionClient
		}{{"a (same region)", ca}, {"b", cb}} {
			var lat []time.Duration
			for _, s := range syms {
				for _, tk := range c.rc.snapshot(s) {
					if n := int(tk.price); n >= first && n < 1_000_000 {
						lat = append(lat, tk.at.Sub(time.UnixMilli(tk.ts)))
					}
				}
			}
			slices.Sort(lat)
			pct := func(p float64) time.Duration {
				return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Millisecond)
			}
			t.Logf("latency, %s: tick posted in a -> read by a client in %s: n=%d p50=%v p90=%v p99=%v max=%v",
				label, c.name, len(lat), pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1].Round(time.Millisecond))
		}
	}
	measure("bare link (baseline)")
	link.toxic("latency", `"latency":80`)
	measure("80 ms each way")

	// Partition: nothing passes, connections stay open; a goes on.
	link.remove("latency")
	link.toxic("timeout", `"timeout":0`)
	cut := time.Now()
	posted := 0
	for cb.lastState() != "stale" {
		if time.Since(cut) > 15*time.Second {
			t.Fatalf("region b's client was not told its data is stale within 15 s of the partition (states %v)", cb.state)
		}
		if code := pa.post(); code != http.StatusAccepted {
			t.Fatalf("POST in region a during the partition = %d, want 202", code)
		}
		posted++
		time.Sleep(20 * time.Millisecond) // pacing the posts, not waiting for an event
	}
	t.Logf("partition: region b's client told stale after %v (region_stale_after 2s)", time.Since(cut).Round(time.Millisecond))
	if code := pb.post(); code != http.StatusServiceUnavailable {
		t.Errorf("POST in region b during the partition = %d, want 503 (writes go to the primary region)", code)
	}
	for range 50 {
		if code := pa.post(); code != http.StatusAccepted {
			t.Fatalf("POST in region a during the partition = %d, want 202", code)
		}
	}

	// Heal: b catches up, with nothing lost or repeated.
	link.remove("timeout")
	healed := time.Now()
	testenv.Eventually(t, 40*time.Second, func() bool { return cb.lastState() == "live" }, "region b's client was not told its data is live again after healing")
	t.Logf("heal: region b's client told live after %v", time.Since(healed).Round(time.Millisecond))
	if want := pa.acked[syms[0]] + pb.acked[syms[0]]; !testenv.WaitFor(60*time.Second, allArrived(want)) {
		t.Fatalf("region b did not catch up within 60 s of healing: want %d per symbol; %s", want, counts())
	}
	cb.mu.Lock()
	ended := cb.ended
	cb.mu.Unlock()
	if ended != nil {
		t.Fatalf("region b's client lost its connection: %v", ended)
	}
	for _, s := range syms {
		want := pa.acked[s] + pb.acked[s]
		ta, tb := ca.snapshot(s), cb.snapshot(s)
		if len(ta) != want || len(tb) != want {
			t.Errorf("%s: region a's client has %d ticks, b's %d; acknowledged %d", s, len(ta), len(tb), want)
			continue
		}
		prices := map[float64]bool{}
		for i := range ta {
			if ta[i].seq != tb[i].seq || ta[i].price != tb[i].price {
				t.Errorf("%s tick %d: region a's client has seq %d price %v, b's seq %d price %v", s, i, ta[i].seq, ta[i].price, tb[i].seq, tb[i].price)
				break
			}
			if i > 0 && tb[i].seq <= tb[i-1].seq {
				t.Errorf("%s: seq %d after %d in region b", s, tb[i].seq, tb[i-1].seq)
			}
			if prices[tb[i].price] {
				t.Errorf("%s: tick with price %v twice in region b", s, tb[i].price)
			}
			prices[tb[i].price] = true
		}
	}
	// stale and live alternate, starting with stale and ending live; more
	// than one pair means the link was also seen down outside the
	// partition (a loaded machine missing heartbeats): logged, not failed.
	got := cb.state
	for i, st := range got {
		if want := []string{"stale", "live"}[i%2]; st != want {
			t.Errorf("region b's client status messages %v: message %d is %q, want %q (alternating, from stale)", got, i, st, want)
			break
		}
	}
	if len(got)%2 != 0 {
		t.Errorf("region b's client status messages %v: the last is not live", got)
	} else if len(got) > 2 {
		t.Logf("region b's client status messages %v: the link was also seen down outside the partition", got)
	}
	if got := ca.state; len(got) != 0 {
		t.Errorf("region a's client status messages %v, want none", got)
	}
	t.Logf("partition: %d+50 ticks per symbol ingested in a while cut off; b received all %d per symbol, in a's seqs, none twice", posted, pa.acked[syms[0]]+pb.acked[syms[0]])
}
