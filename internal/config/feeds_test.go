package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVenueSymbols(t *testing.T) {
	c, err := load(t, nil, []string{"FINDASH_FEED=binance,coinbase", "FINDASH_FEED_SYMBOLS=BTC-USDT, ETH-USD,coinbase:SOL-USDT,BNB-FDUSD"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.VenueSymbols()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"binance": {"BTC-USDT", "BNB-FDUSD"}, "coinbase": {"ETH-USD", "SOL-USDT"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VenueSymbols (-want +got):\n%s", diff)
	}
	if v := c.FeedVenues(); !cmp.Equal(v, []string{"binance", "coinbase"}) {
		t.Errorf("FeedVenues = %v", v)
	}
}

// Bad feed settings stop the start with a message naming the problem.
func TestFeedErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"unknown venue", []string{"FINDASH_FEED=kraken"}, `unknown feed "kraken"`},
		{"simulator and a venue", []string{"FINDASH_FEED=simulator,binance", "FINDASH_FEED_SYMBOLS=BTC-USDT"}, `unknown feed "simulator"`},
		{"no symbols", []string{"FINDASH_FEED=binance"}, "no symbol for binance"},
		{"two venues, one symbol", []string{"FINDASH_FEED=binance,coinbase", "FINDASH_FEED_SYMBOLS=BTC-USDT,coinbase:BTC-USDT"}, "fed by both binance and coinbase"},
		{"no venue quotes it", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=BTC-USD"}, "no venue of the feed (binance) quotes USD"},
		{"pinned to a venue not in the feed", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=coinbase:BTC-USD"}, `venue "coinbase" is not in the feed`},
		{"not BASE-QUOTE", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=binance:BTCUSDT"}, "want BASE-QUOTE"},
		{"lower case", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=btc-usdt"}, "no venue of the feed"},
		{"over the symbol cap", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=BTC-USDT,ETH-USDT", "FINDASH_MAX_SYMBOLS=1"}, "exceed max_symbols (1)"},
		{"silence under a second", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=BTC-USDT", "FINDASH_FEED_SILENCE=1ms"}, "feed_silence: must be 0 (the default) or at least 1s"},
		{"stale under a second", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=BTC-USDT", "FINDASH_FEED_STALE_AFTER=500ms"}, "feed_stale_after: must be 0"},
		{"bad ws url", []string{"FINDASH_FEED=binance", "FINDASH_FEED_SYMBOLS=BTC-USDT", "FINDASH_BINANCE_WS_URL=https://x"}, "binance_ws_url: must be a ws://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, nil, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load(%v) = %v, want an error containing %q", tc.env, err, tc.want)
			}
		})
	}
}
