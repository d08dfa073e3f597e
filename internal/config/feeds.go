package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Venues are the exchanges FINDASH_FEED may name (decision 0020).
var Venues = []string{"binance", "coinbase"}

// venueQuotes are the quote currencies each venue lists, by which a
// symbol not pinned to a venue (venue:SYMBOL) finds its venue: the first
// venue of --feed that quotes it. Binance (spot, binance.com) quotes no USD;
// Coinbase Exchange quotes no FDUSD, TRY, BNB.
var venueQuotes = map[string][]string{
	"binance":  {"USDT", "USDC", "FDUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY"},
	"coinbase": {"USD", "EUR", "GBP", "USDT", "USDC", "BTC", "ETH", "DAI"},
}

// feedFlags registers the exchange feeds' settings (docs/operations.md
// "Connecting a venue").
func feedFlags(fs *pflag.FlagSet) {
	fs.StringSlice("feed-symbols", nil, "symbols the exchange feeds subscribe to, BASE-QUOTE (BTC-USDT,ETH-USD); venue:SYMBOL pins one to a venue, else the first venue of --feed quoting its quote currency takes it")
	fs.String("binance-ws-url", "wss://stream.binance.com:9443", "Binance Spot WebSocket base URL (combined streams at /stream)")
	fs.String("binance-rest-url", "https://api.binance.com", "Binance Spot REST base URL (aggregate trade history at /api/v3/aggTrades)")
	fs.String("coinbase-ws-url", "wss://ws-feed.exchange.coinbase.com", "Coinbase Exchange WebSocket feed URL")
	fs.String("coinbase-rest-url", "https://api.exchange.coinbase.com", "Coinbase Exchange REST base URL (trade history at /products/{id}/trades)")
	fs.Duration("feed-silence", 0, "how long an exchange connection may deliver nothing (no message, no ping) before it is replaced (0: the venue's default, Binance 60s, Coinbase 5s)")
	fs.Duration("feed-stale-after", 0, "how long an exchange feed may receive nothing before it shows degraded (in /api/v1/feeds, the dashboard and its /readyz check; 0: twice the silence timeout)")
}

// FeedVenues returns the exchanges the feed setting names (none for
// simulator or none).
func (c *Config) FeedVenues() []string {
	if c.Feed == "simulator" || c.Feed == "none" {
		return nil
	}
	return splitList([]string{c.Feed})
}

// VenueSymbols returns each venue's symbols (by the rule of feedFlags), or
// an error naming the first symbol no venue of the feed takes, or taken
// twice.
func (c *Config) VenueSymbols() (map[string][]string, error) {
	venues := c.FeedVenues()
	out := make(map[string][]string, len(venues))
	owner := map[string]string{}
	for _, entry := range c.FeedSymbols {
		venue, sym, pinned := strings.Cut(entry, ":")
		if !pinned {
			venue, sym = "", entry
			_, quote, ok := strings.Cut(sym, "-")
			if !ok {
				return nil, fmt.Errorf("feed symbol %q: want BASE-QUOTE (BTC-USDT)", entry)
			}
			for _, v := range venues {
				if slices.Contains(venueQuotes[v], quote) {
					venue = v
					break
				}
			}
			if venue == "" {
				return nil, fmt.Errorf("feed symbol %q: no venue of the feed (%s) quotes %s; pin it (venue:%s)", entry, c.Feed, quote, sym)
			}
		} else if !slices.Contains(venues, venue) {
			return nil, fmt.Errorf("feed symbol %q: venue %q is not in the feed (%s)", entry, venue, c.Feed)
		}
		base, quote, ok := strings.Cut(sym, "-")
		if !ok || !upperAlnum(base) || !upperAlnum(quote) || len(sym) > 32 {
			return nil, fmt.Errorf("feed symbol %q: want BASE-QUOTE in capitals and digits (BTC-USDT)", entry)
		}
		if prev, dup := owner[sym]; dup {
			return nil, fmt.Errorf("feed symbol %s is fed by both %s and %s: one symbol, one venue (decision 0020)", sym, prev, venue)
		}
		owner[sym] = venue
		out[venue] = append(out[venue], sym)
	}
	return out, nil
}

func upperAlnum(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// validateFeed checks the feed settings, reporting each problem through bad.
func (c *Config) validateFeed(bad func(name, format string, args ...any)) {
	venues := c.FeedVenues()
	if c.Feed != "simulator" && c.Feed != "none" {
		if len(venues) == 0 {
			bad("feed", "must be simulator, none, or a comma list of %s", strings.Join(Venues, ", "))
		}
		seen := map[string]bool{}
		for _, v := range venues {
			if !slices.Contains(Venues, v) {
				bad("feed", "unknown feed %q (want simulator, none, or a comma list of %s)", v, strings.Join(Venues, ", "))
			}
			if seen[v] {
				bad("feed", "%s is listed twice", v)
			}
			seen[v] = true
		}
	}
	if len(venues) == 0 {
		return
	}
	per, err := c.VenueSymbols()
	if err != nil {
		bad("feed_symbols", "%v", err)
		return
	}
	n := 0
	for _, v := range venues {
		if len(per[v]) == 0 {
			bad("feed_symbols", "no symbol for %s (list some, e.g. FINDASH_FEED_SYMBOLS=%s)", v, map[string]string{"binance": "BTC-USDT", "coinbase": "BTC-USD"}[v])
		}
		if len(per[v]) > 1024 {
			bad("feed_symbols", "%s: %d symbols, at most 1024 per venue (one connection each)", v, len(per[v]))
		}
		n += len(per[v])
	}
	if c.MaxSymbols > 0 && n > c.MaxSymbols {
		bad("feed_symbols", "%d symbols exceed max_symbols (%d)", n, c.MaxSymbols)
	}
	// Below a second, a venue's ordinary pauses would be taken for silence
	// and findash would reconnect to it again and again.
	if c.FeedSilence < 0 || (c.FeedSilence > 0 && c.FeedSilence < time.Second) {
		bad("feed_silence", "must be 0 (the default) or at least 1s")
	}
	if c.FeedStaleAfter < 0 || (c.FeedStaleAfter > 0 && c.FeedStaleAfter < time.Second) {
		bad("feed_stale_after", "must be 0 (the default) or at least 1s")
	}
	for name, u := range map[string]string{"binance_ws_url": c.BinanceWSURL, "coinbase_ws_url": c.CoinbaseWSURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "ws" && p.Scheme != "wss") || p.Host == "" {
			bad(name, "must be a ws:// or wss:// URL")
		}
	}
	for name, u := range map[string]string{"binance_rest_url": c.BinanceRESTURL, "coinbase_rest_url": c.CoinbaseRESTURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(name, "must be an http:// or https:// URL")
		}
	}
}
