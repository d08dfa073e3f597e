package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConnectSubscribe: /ws?subscribe= subscribes at connect. The first
// message is the ack (no id), then each channel's snapshot, then live
// data, exactly as after a subscribe message — and the 101 response
// arrives before them on the same stream.
func TestConnectSubscribe(t *testing.T) {
	e := newEnv(t, Config{})
	e.feed("BTC-USD", 1, 3, 3)
	c := e.dial("?subscribe="+url.QueryEscape("ticks:BTC-USD,quotes,ticks:BTC-USD"), nil)
	ack := c.next()
	if ack.Type != "ack" || ack.ID != nil {
		t.Fatalf("first message %s, want an ack without id", ack.raw)
	}
	snaps := map[string]bool{}
	for range 2 {
		m := c.next()
		if m.Type != "snapshot" {
			t.Fatalf("want the snapshots after the ack, got %s", m.raw)
		}
		snaps[m.Channel] = true
	}
	if !snaps["ticks:BTC-USD"] || !snaps["quotes"] {
		t.Fatalf("snapshots of %v, want ticks:BTC-USD and quotes (the repeated channel once)", snaps)
	}
	e.feed("BTC-USD", 4, 6, 1)
	for want := uint64(4); want <= 6; want++ {
		m := c.next()
		for m.Type != "tick" {
			m = c.next()
		}
		if m.Seq != want {
			t.Fatalf("tick seq %d, want %d", m.Seq, want)
		}
	}
	// A subscribe message still works on such a connection.
	c.send(`{"op":"subscribe","id":9,"channels":["ticks:ETH-USD"]}`)
	for m := c.next(); m.Type != "ack"; m = c.next() {
		if m.Type == "error" {
			t.Fatalf("subscribe after a connect subscription: %s", m.raw)
		}
	}
}

// TestConnectSubscribeStale: a connection subscribing at connect while the
// instance is stale gets the status first (queued to the pool's writer by
// addConn), then the ack and the snapshot — the 101 still first of all.
func TestConnectSubscribeStale(t *testing.T) {
	e := newEnv(t, Config{})
	e.hub.SetStale(true, time.UnixMilli(baseTS))
	for i := range 20 { // both orders of the pool's writer and the handshake's goroutine
		c := e.dial("?subscribe=ticks:STL", nil)
		for j, want := range []string{"status", "ack", "snapshot"} {
			if m := c.next(); m.Type != want {
				t.Fatalf("connection %d, message %d: %s, want %s", i, j, m.raw, want)
			}
		}
	}
}

// TestConnectSubscribeRefused: a bad ?subscribe= is refused before the
// upgrade, with the JSON error body.
func TestConnectSubscribeRefused(t *testing.T) {
	e := newEnv(t, Config{MaxSubscriptions: 2, Auth: tokens{"secret": 7}})
	base := strings.Replace(e.url, "ws://", "http://", 1)
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"ticks:btc", http.StatusBadRequest},
		{"ticks:A,ticks:B,ticks:C", http.StatusBadRequest},
		{"ticks:A,", http.StatusOK}, // an empty last name is no channel: upgraded
		{",ticks:A", http.StatusBadRequest},
		{strings.Repeat("quotes,", 1001), http.StatusBadRequest},
		{"alerts", http.StatusUnauthorized},
	} {
		resp := rawHandshake(t, base+"?subscribe="+url.QueryEscape(tt.query), validKey)
		got := resp.StatusCode
		if got == http.StatusSwitchingProtocols {
			got = http.StatusOK
		}
		if got != tt.want {
			t.Errorf("subscribe=%.40q: status %d, want %d", tt.query, resp.StatusCode, tt.want)
		}
	}
	// alerts with a token is allowed.
	c := e.dial("?token=secret&subscribe=alerts", nil)
	if m := c.next(); m.Type != "ack" {
		t.Fatalf("alerts with a token: %s, want ack", m.raw)
	}
}

const validKey = "dGhlIHNhbXBsZSBub25jZQ=="

// rawHandshake sends a handshake request with key over a new TCP
// connection and returns the response (its body read).
func rawHandshake(t *testing.T, rawURL, key string, extra ...string) *http.Response {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n"
	hdr := []string{"Connection: keep-alive, Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + key}
	for _, h := range extra { // "Name:" drops a header, "Name: v" replaces it, "+Name: v" adds a line
		if add, ok := strings.CutPrefix(h, "+"); ok {
			hdr = append(hdr, add)
			continue
		}
		name, _, _ := strings.Cut(h, ":")
		for i := range hdr {
			if strings.HasPrefix(hdr[i], name+":") {
				hdr[i] = ""
			}
		}
		if !strings.HasSuffix(h, ":") {
			hdr = append(hdr, h)
		}
	}
	for _, h := range hdr {
		if h != "" {
			req += h + "\r\n"
		}
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	return resp
}

// TestHandshake: the opening handshake's checks and its accept value
// (RFC 6455 §1.3's example key and accept).
func TestHandshake(t *testing.T) {
	e := newEnv(t, Config{})
	base := strings.Replace(e.url, "ws://", "http://", 1)
	resp := rawHandshake(t, base, validKey)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("valid handshake: %d %v", resp.StatusCode, resp.Header)
	}
	for _, tt := range []struct {
		name  string
		key   string
		extra []string
		want  int
	}{
		{"no upgrade token", validKey, []string{"Connection: keep-alive"}, http.StatusBadRequest},
		{"no Upgrade", validKey, []string{"Upgrade:"}, http.StatusBadRequest},
		{"version 8", validKey, []string{"Sec-WebSocket-Version: 8"}, http.StatusBadRequest},
		// RFC 6455 §4.1, §11.3.1, §11.3.5: one version, 13; one key, the
		// canonical base64 of 16 bytes.
		{"versions 8, 13", validKey, []string{"Sec-WebSocket-Version: 8, 13"}, http.StatusBadRequest},
		{"versions 13, 99", validKey, []string{"Sec-WebSocket-Version: 13, 99"}, http.StatusBadRequest},
		{"two version lines", validKey, []string{"Sec-WebSocket-Version: 7", "+Sec-WebSocket-Version: 13"}, http.StatusBadRequest},
		{"two key lines", validKey, []string{"+Sec-WebSocket-Key: " + validKey}, http.StatusBadRequest},
		{"key with padding bits set", "dGhlIHNhbXBsZSBub25jZR==", nil, http.StatusBadRequest},
		{"short key", "c2hvcnQ=", nil, http.StatusBadRequest},
		{"key not base64", "!!!!!!!!!!!!!!!!!!!!!!!!", nil, http.StatusBadRequest},
		{"key of 17 bytes", "MDEyMzQ1Njc4OWFiY2RlZmc=", nil, http.StatusBadRequest},
		{"tokens in any case, any list", validKey, []string{"Connection: foo,  UPGRADE ", "Upgrade: h2c, WebSocket"}, http.StatusSwitchingProtocols},
		{"foreign origin", validKey, []string{"Origin: https://evil.example.com"}, http.StatusForbidden},
	} {
		resp := rawHandshake(t, base, tt.key, tt.extra...)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusBadRequest && resp.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Errorf("%s: a 400 names the version it takes (Sec-WebSocket-Version: 13), got %v", tt.name, resp.Header)
		}
	}
}

// FuzzParseSubscribeQuery: the connect-time channel list never panics,
// errors are ProtocolErrors with a code, and what it accepts is a list of
// distinct valid channels within the per-message bound.
func FuzzParseSubscribeQuery(f *testing.F) {
	for _, s := range []string{"ticks:BTC-USD", "ticks:BTC-USD,quotes,candles:ETH-USD:1m", "alerts,", ",", "", "ticks:", strings.Repeat("quotes,", 1001)} {
		f.Add(s, "")
	}
	f.Add("ticks:A", "ticks:A,ticks:B")
	f.Fuzz(func(t *testing.T, a, b string) {
		m, err := ParseSubscribeQuery([]string{a, b})
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" {
				t.Fatalf("error %v is not a *ProtocolError with code and message", err)
			}
			return
		}
		if m.Op != OpSubscribe || m.HasID || len(m.Channels) > maxChannelsPerMessage {
			t.Fatalf("parsed %+v", m)
		}
		seen := map[Channel]bool{}
		for _, ch := range m.Channels {
			if seen[ch] {
				t.Fatalf("channel %v twice", ch)
			}
			seen[ch] = true
			if back, err := ParseChannel(ch.String()); err != nil || back != ch {
				t.Fatalf("channel %v does not round-trip: %v %v", ch, back, err)
			}
		}
	})
}
