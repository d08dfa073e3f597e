package gateway

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// FuzzParseHead: a head parseHead accepts is read the same by net/http
// (http.ReadRequest, then the server's own checks: one valid Host, valid
// header names and values): the same method, target, URL, host, headers,
// Connection: close, no body, and the same length; and parseHead never
// panics. A head it refuses goes to net/http, so refusing is always safe.
func FuzzParseHead(f *testing.F) {
	key := "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\n"
	up := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" + key
	for _, s := range []string{
		"GET /ws HTTP/1.1\r\nHost: example.com\r\n" + up + "\r\n",
		"GET /ws?subscribe=ticks:BTC-USD,candles:ETH-USD:1m&token=a.b-c_d HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + up + "Origin: http://127.0.0.1:8080\r\nCookie: findash_session=x; y=z\r\n\r\n",
		"GET /ws HTTP/1.1\r\nhost:example.com\r\nconnection:  keep-alive, Upgrade \r\nX-Empty:\r\nX-Tab:\ta\tb\t\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\nleftover",
		"GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET /ws?a=%zz#f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /ws HTTP/1.1\nHost: a\n\n",
		"GET /ws HTTP/1.0\r\nHost: a\r\n\r\n",
		"GET /ws  HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
		"GET /ws? HTTP/1.1\r\nHost: a\r\nX-A: \xff\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\n" + up + "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Protocol: a, b\r\nsec-websocket-key: x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseHead(b, "/ws", 32)
		if !ok {
			return
		}
		br := bufio.NewReader(bytes.NewReader(b))
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("parseHead accepted %q; net/http: %v", b, err)
		}
		if consumed := len(b) - br.Buffered(); consumed < h.n {
			t.Fatalf("net/http read %d bytes of the head, parseHead %d", consumed, h.n)
		}
		switch {
		case req.Method != http.MethodGet, req.Proto != "HTTP/1.1", req.RequestURI != h.target:
			t.Fatalf("request line: net/http %q %q %q, parseHead %q", req.Method, req.RequestURI, req.Proto, h.target)
		case req.URL.Path != "/ws", req.URL.Host != "", *req.URL != *h.url:
			t.Fatalf("URL: net/http %#v, parseHead %#v", req.URL, h.url)
		case req.Host == "" || req.Host != h.host: // ReadRequest refuses two Host lines
			t.Fatalf("Host: net/http %q, parseHead %q", req.Host, h.host)
		case req.Close != h.close:
			t.Fatalf("Close: net/http %v, parseHead %v", req.Close, h.close)
		case req.ContentLength != 0 || len(req.TransferEncoding) != 0:
			t.Fatalf("a body: %d %q", req.ContentLength, req.TransferEncoding)
		}
		if len(req.Header) != len(h.header) {
			t.Fatalf("headers: net/http %q, parseHead %q", req.Header, h.header)
		}
		for k, v := range req.Header {
			if !slices.Equal(v, h.header[k]) {
				t.Fatalf("header %q: net/http %q, parseHead %q", k, v, h.header[k])
			}
			for _, x := range v {
				if strings.ContainsAny(x, "\r\n\x00") {
					t.Fatalf("header %q value %q", k, x)
				}
			}
		}
		// The head ends where net/http's does: what follows is the next
		// request's (or early data).
		rest, _ := br.Peek(br.Buffered())
		if !bytes.Equal(rest, b[h.n:]) {
			t.Fatalf("after the head: net/http %q, parseHead %q", rest, b[h.n:])
		}
	})
}

// TestParseHeadRefuses: heads net/http reads differently, or acts on, are
// not parsed here (they go to net/http).
func TestParseHeadRefuses(t *testing.T) {
	for _, s := range []string{
		"GET /ws HTTP/1.1\r\n\r\n",                                                  // no Host
		"GET /ws HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",                            // two
		"GET /ws HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",                         // folded
		"GET /ws HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",                              // space before the colon
		"GET /ws HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",                  // a body's header
		"GET /ws HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",                   // rewritten by net/http
		"GET /ws HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",                     // not ASCII
		"GET /ws#x HTTP/1.1\r\nHost: a\r\n\r\n",                                     // a fragment
		"GET /ws HTTP/1.0\r\nHost: a\r\n\r\n",                                       // another version
		"GET /wsx HTTP/1.1\r\nHost: a\r\n\r\n",                                      // another path
		"get /ws HTTP/1.1\r\nHost: a\r\n\r\n",                                       // another method
		"GET /ws HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: a\r\n", 32) + "\r\n", // over MaxHeaders
	} {
		if _, ok := parseHead([]byte(s), "/ws", 32); ok {
			t.Errorf("parseHead accepted %q", s)
		}
	}
	if _, ok := parseHead([]byte("GET /ws HTTP/1.1\r\nHost: a\r\n"+strings.Repeat("X: a\r\n", 31)+"\r\n"), "/ws", 32); !ok {
		t.Error("parseHead refused 32 header lines")
	}
}

// TestCanonicalKey: the WebSocket headers as clients spell them are
// canonicalised as net/textproto does, without allocating.
func TestCanonicalKey(t *testing.T) {
	for _, k := range []string{"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
		"Sec-WebSocket-Protocol", "sec-websocket-key", "Host", "x-a", "Sec-Websocket-Key"} {
		if got, want := canonicalKey(k), textproto.CanonicalMIMEHeaderKey(k); got != want {
			t.Errorf("canonicalKey(%q) = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Sec-WebSocket-Key", "Sec-WebSocket-Version"} {
		if n := testing.AllocsPerRun(100, func() { _ = canonicalKey(k) }); n != 0 {
			t.Errorf("canonicalKey(%q): %v allocations", k, n)
		}
	}
}
