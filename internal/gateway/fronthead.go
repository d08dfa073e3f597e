package gateway

// The request heads Front serves itself: a strict subset of HTTP/1.1 that
// net/http reads the same way (FuzzParseHead checks every head accepted
// here against http.ReadRequest). Anything outside it — another method,
// path or version, a body, folded or non-ASCII header lines, a bare LF,
// headers net/http rewrites (Pragma) or acts on (Expect, Content-Length,
// Transfer-Encoding, Trailer), no Host or several — is not refused here
// but handed to net/http with the bytes read, so that it answers exactly
// as it always has.

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// frontHead is a parsed request head.
type frontHead struct {
	target string      // the request-target: the path, then "?" and the query, if any
	url    *url.URL    // target, parsed as net/http parses it
	host   string      // the Host header's value (not in header, as net/http)
	header http.Header // canonical keys
	close  bool        // Connection: close
	n      int         // the head's length, its final CRLF CRLF included
}

// headEnd returns the length of the head at the start of b (through its
// first CRLF CRLF), or -1 when b does not hold a whole head yet.
func headEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// headPrefix reports whether b, the first bytes of a request, can still
// be a GET of path (exactly: no dot segments, no escapes, no other path
// that only starts with it).
func headPrefix(b []byte, path string) bool {
	want := "GET " + path
	if len(b) <= len(want) {
		return string(b) == want[:len(b)]
	}
	return string(b[:len(want)]) == want && (b[len(want)] == ' ' || b[len(want)] == '?')
}

// headDone reports whether reading a head into b is done (done), after a
// read that ended with rerr: a whole GET Path head (parsed in h, ok), or
// one not to serve here (not GET Path, longer than b, or the read failed).
func (f *Front) headDone(b []byte, rerr error) (h frontHead, ok, done bool) {
	switch {
	case !headPrefix(b, f.cfg.Path):
		return h, false, true
	case headEnd(b) >= 0:
		h, ok = parseHead(b, f.cfg.Path, f.cfg.MaxHeaders)
		return h, ok, true
	case rerr != nil || len(b) == cap(b):
		return h, false, true
	}
	return h, false, false
}

// parseHead parses b[:headEnd(b)], a whole head, as a GET of path by
// HTTP/1.1 with at most maxHeaders header lines. ok is false when the head
// is not one Front serves (see the file's comment).
func parseHead(b []byte, path string, maxHeaders int) (h frontHead, ok bool) {
	h.n = headEnd(b)
	if h.n < 0 || !headPrefix(b, path) {
		return h, false
	}
	s := string(b[:h.n-2]) // every line with its CRLF; one allocation for them all
	line, s := cutLine(s)
	const proto = " HTTP/1.1"
	if len(line) < len("GET ")+len(proto) || line[len(line)-len(proto):] != proto {
		return h, false
	}
	h.target = line[len("GET ") : len(line)-len(proto)]
	for i := 0; i < len(h.target); i++ {
		if c := h.target[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return h, false
		}
	}
	var err error
	if h.url, err = url.ParseRequestURI(h.target); err != nil {
		return h, false
	}
	lines := strings.Count(s, "\r\n")
	h.header = make(http.Header, lines)
	// One backing array for the values of single-valued headers (the
	// usual), as net/textproto does: one allocation, not one a header.
	strs := make([]string, lines)
	hosts := 0
	for n := 0; s != ""; n++ {
		if n == maxHeaders {
			return h, false
		}
		line, s = cutLine(s)
		colon := -1
		for i := 0; i < len(line); i++ {
			if line[i] == ':' {
				colon = i
				break
			}
			if !isTokenByte(line[i]) {
				return h, false // a folded line, a space before the colon, a CR, a bare LF
			}
		}
		if colon <= 0 {
			return h, false
		}
		v := line[colon+1:]
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < ' ' && c != '\t') || c >= 0x7f {
				return h, false
			}
		}
		v = trimOWS(v)
		switch key := canonicalKey(line[:colon]); key {
		case "Host":
			hosts++
			h.host = v
		case "Content-Length", "Transfer-Encoding", "Expect", "Trailer", "Pragma":
			return h, false
		default:
			if vv, ok := h.header[key]; ok {
				h.header[key] = append(vv, v)
			} else {
				strs[0] = v
				h.header[key], strs = strs[:1:1], strs[1:]
			}
		}
	}
	if hosts != 1 || h.host == "" || !validHost(h.host) {
		return h, false
	}
	h.close = headerHasToken(h.header["Connection"], "close")
	return h, true
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey, without its
// allocation for the WebSocket headers as clients (browsers, RFC 6455's
// examples) spell them: it returns a new string for every key not already
// canonical that it does not know, and Sec-WebSocket-Key and -Version are
// in every handshake (2-3 allocations per connect, issue 14).
func canonicalKey(k string) string {
	switch k {
	case "Sec-WebSocket-Key":
		return "Sec-Websocket-Key"
	case "Sec-WebSocket-Version":
		return "Sec-Websocket-Version"
	case "Sec-WebSocket-Extensions":
		return "Sec-Websocket-Extensions"
	case "Sec-WebSocket-Protocol":
		return "Sec-Websocket-Protocol"
	}
	return textproto.CanonicalMIMEHeaderKey(k)
}

// cutLine splits s after its first line, which it returns without CRLF.
// s holds whole CRLF-ended lines (a lone CR or LF stays in the line and
// fails the caller's byte checks).
func cutLine(s string) (line, rest string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			return s[:i], s[i+2:]
		}
	}
	return s, ""
}

// trimOWS trims spaces and tabs, as net/textproto does around a value.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isTokenByte reports whether c may appear in a header name (RFC 9110 tchar).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validHost accepts a host[:port] of letters, digits, '.', '-', '_', ':'
// and brackets: a subset of what net/http accepts.
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
