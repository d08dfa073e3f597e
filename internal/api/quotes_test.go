package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/market"
)

// countingMarket counts the reads of quotes of named symbols.
type countingMarket struct {
	api.Market
	named atomic.Int64
}

func (m *countingMarket) Quotes(symbols []string) []market.Quote {
	if len(symbols) > 0 {
		m.named.Add(1)
	}
	return m.Market.Quotes(symbols)
}

// countingRemote is an L2 cache that holds nothing and counts its calls.
type countingRemote struct{ calls atomic.Int64 }

func (r *countingRemote) Get(context.Context, string) ([]byte, bool, error) {
	r.calls.Add(1)
	return nil, false, nil
}

func (r *countingRemote) Set(context.Context, string, []byte, time.Duration) error {
	r.calls.Add(1)
	return nil
}

func TestQuotesOfSymbolsJoinsEachSymbolsCachedQuote(t *testing.T) {
	var cm *countingMarket
	remote := &countingRemote{}
	f := newFixture(t, func(_ *api.Config, d *api.Deps) {
		cm = &countingMarket{Market: d.Market}
		d.Market = cm
		d.Cache = remote
	})
	syms := []string{"BTC-USD", "NOPE", "AAPL", "BTC-USD"}
	resp, body := f.do(t, "GET", "/api/v1/quotes?symbols=BTC-USD,NOPE,AAPL,BTC-USD", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	// The bytes of the whole list rendered at once: known symbols in the
	// order asked, a repeated one twice, an unknown one left out.
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string][]market.Quote{"data": f.state.Quotes(syms)})
	if !bytes.Equal(body, want.Bytes()) {
		t.Errorf("body\n%s\nwant\n%s", body, want.Bytes())
	}
	if len(f.state.Quotes(syms)) != 3 {
		t.Fatalf("the fixture's market lacks BTC-USD or AAPL")
	}
	if resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) || len(resp.TransferEncoding) > 0 {
		t.Errorf("Content-Length %q, Transfer-Encoding %v; want %d, none", resp.Header.Get("Content-Length"), resp.TransferEncoding, len(body))
	}
	if n := remote.calls.Load(); n != 0 {
		t.Errorf("%d calls to the L2 cache; a quote is read from memory, not from Redis", n)
	}
	reads := cm.named.Load()
	if reads != 3 { // BTC-USD, NOPE, AAPL: the repeat is a cache hit
		t.Errorf("%d reads of named quotes, want 3 (one per distinct symbol)", reads)
	}
	// Another list of the same symbols reads nothing again.
	resp, _ = f.do(t, "GET", "/api/v1/quotes?symbols=AAPL,BTC-USD", nil)
	if resp.StatusCode != http.StatusOK || cm.named.Load() != reads {
		t.Errorf("status %d, %d more reads; want 200 from the cached quotes", resp.StatusCode, cm.named.Load()-reads)
	}
	resp, _ = f.do(t, "GET", "/api/v1/quotes?symbols=AAPL,BTC-USD", nil, "If-None-Match", resp.Header.Get("Etag"))
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: status %d, want 304", resp.StatusCode)
	}
}
