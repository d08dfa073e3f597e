package gateway

// The WebSocket opening handshake (RFC 6455 §4.2.2), done here rather than
// by gorilla/websocket: its Upgrade allocated a Conn (and buffers) that the
// gateway never used, reset the socket's deadlines three times, and wrote
// the 101 response on its own, so a connection that subscribes at once
// cost one write(2) for the response and another for the ack. Here the
// response is written with one write that never waits, or — when the
// request subscribes (?subscribe=) — held and written with the first frame
// (the ack), in one write.

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// handshakeTimeout bounds the write of a 101 response that does not fit
// the socket at once (it always does on a fresh socket).
const handshakeTimeout = 10 * time.Second

// wsGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// handshakeError is a refused handshake, answered with an HTTP error.
type handshakeError struct {
	status        int
	code, message string
}

func (e *handshakeError) Error() string { return "websocket handshake: " + e.message }

// checkHandshake validates r as an opening handshake (GET, Connection:
// upgrade, Upgrade: websocket, version 13, a key of 16 bytes in base64,
// an allowed Origin) and returns the key.
func checkHandshake(r *http.Request, checkOrigin func(*http.Request) bool) (string, *handshakeError) {
	switch {
	case r.Method != http.MethodGet:
		return "", &handshakeError{http.StatusMethodNotAllowed, "method_not_allowed", "a WebSocket handshake is a GET"}
	case !headerHasToken(r.Header["Connection"], "upgrade"):
		return "", &handshakeError{http.StatusBadRequest, "invalid", "not a WebSocket handshake: no 'upgrade' in Connection"}
	case !headerHasToken(r.Header["Upgrade"], "websocket"):
		return "", &handshakeError{http.StatusBadRequest, "invalid", "not a WebSocket handshake: no 'websocket' in Upgrade"}
	case !isVersion13(r.Header["Sec-Websocket-Version"]):
		return "", &handshakeError{http.StatusBadRequest, "invalid", "unsupported WebSocket version: want one Sec-WebSocket-Version of 13"}
	case checkOrigin != nil && !checkOrigin(r):
		return "", &handshakeError{http.StatusForbidden, "forbidden", "origin not allowed"}
	}
	// One key (RFC 6455 §11.3.1), the canonical base64 of 16 bytes:
	// Strict refuses non-zero padding bits, which a second spelling of the
	// same nonce would need.
	keys := r.Header["Sec-Websocket-Key"]
	var raw [18]byte
	if len(keys) != 1 || len(keys[0]) != 24 {
		return "", &handshakeError{http.StatusBadRequest, "invalid", "want one Sec-WebSocket-Key of 16 bytes in base64"}
	}
	key := keys[0]
	if n, err := base64.StdEncoding.Strict().Decode(raw[:], []byte(key)); err != nil || n != 16 {
		return "", &handshakeError{http.StatusBadRequest, "invalid", "want one Sec-WebSocket-Key of 16 bytes in base64"}
	}
	return key, nil
}

// isVersion13 reports whether a request's Sec-WebSocket-Version lines are
// one line of the value 13 (RFC 6455 §4.1, §11.3.5: once, one version).
func isVersion13(lines []string) bool {
	return len(lines) == 1 && strings.TrimSpace(lines[0]) == "13"
}

// headerHasToken reports whether one of the comma-separated tokens of the
// header's values is token (ASCII case-insensitive).
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// appendHandshakeResponse appends the 101 response for key (24 bytes,
// checked by checkHandshake). The digest is of key and wsGUID joined in an
// array on the stack: no hash.Hash, nothing allocated (issue 14).
func appendHandshakeResponse(b []byte, key string) []byte {
	var in [24 + len(wsGUID)]byte
	n := copy(in[:], key)
	n += copy(in[n:], wsGUID)
	sum := sha1.Sum(in[:n])
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = base64.StdEncoding.AppendEncode(b, sum[:])
	return append(b, "\r\n\r\n"...)
}

// handshakeResponseLen is the length of every 101 response (a 20-byte
// digest is 28 bytes of base64).
const handshakeResponseLen = len("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ") + 28 + 4

// pendingResponse holds a 101 response until it is written, and the slice
// the transport's rest points to: one allocation, not two.
type pendingResponse struct {
	b   []byte
	buf [handshakeResponseLen]byte
}

// errEarlyData: the client sent bytes before it had the 101 response.
var errEarlyData = errors.New("websocket: client sent data before the handshake completed")

// Upgrade completes the handshake; on failure it has answered the request
// with an HTTP error (when it still could). onPong is called by the reader
// on every pong. With hold the 101 response is not written here but kept
// as the transport's pending bytes, which go out before (and, from the
// pool's writer, in the same write as) the first frame: the caller must
// queue one (ServeHTTP does: the ack of ?subscribe=).
func (u *wsUpgrader) Upgrade(w http.ResponseWriter, r *http.Request, onPong ponger, hold bool) (transport, error) {
	key, herr := checkHandshake(r, u.checkOrigin)
	if herr != nil {
		if herr.status == http.StatusBadRequest {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		writeHTTPError(w, herr.status, herr.code, herr.message)
		return nil, herr
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeHTTPError(w, http.StatusInternalServerError, "internal", "internal error")
		return nil, errors.New("websocket: the response cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		writeHTTPError(w, http.StatusInternalServerError, "internal", "internal error")
		return nil, err
	}
	if brw.Reader.Buffered() > 0 {
		nc.Close()
		return nil, errEarlyData
	}
	// net/http has cleared the socket's deadlines on hijacking.
	t := &wsTransport{nc: nc, onPong: onPong, u: u}
	if sc, ok := nc.(syscall.Conn); ok {
		t.raw, _ = sc.SyscallConn()
	}
	p := new(pendingResponse)
	p.b = appendHandshakeResponse(p.buf[:0], key)
	t.rest, t.pre = &p.b, true
	if hold {
		return t, nil
	}
	if err := t.sendPending(u.clock().Add(handshakeTimeout)); err != nil {
		nc.Close()
		return nil, err
	}
	return t, nil
}

// clock reads the upgrader's clock (Config.Now).
func (u *wsUpgrader) clock() time.Time {
	if u.now == nil {
		return time.Now()
	}
	return u.now()
}

// sendPending writes the pending handshake response: with one write that
// does not wait when the socket takes it (it does, on a fresh socket),
// else under deadline.
func (t *wsTransport) sendPending(deadline time.Time) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.raw != nil && t.rest != nil {
		w := nowPool.Get().(*nowWrite)
		w.b = append(w.b[:0], *t.rest...)
		err := t.raw.Write(w.fn)
		if err == nil {
			err = w.err
		}
		n := w.n
		w.err = nil
		nowPool.Put(w)
		if err != nil && err != syscall.EAGAIN {
			t.closeSent = true
			return err
		}
		if *t.rest = (*t.rest)[n:]; len(*t.rest) == 0 {
			t.rest, t.pre = nil, false
			return nil
		}
	}
	if t.rest == nil {
		return nil
	}
	return t.writeRestLocked(deadline)
}
