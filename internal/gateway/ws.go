package gateway

// This file is the only one that knows the WebSocket library; the rest of
// the package sees a transport. Swapping gorilla/websocket for another
// library means rewriting this file alone.

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocket close codes used by the gateway.
const (
	closeGoingAway = websocket.CloseGoingAway       // 1001: draining
	closePolicy    = websocket.ClosePolicyViolation // 1008: limits abused
	closeInternal  = websocket.CloseInternalServerErr
)

// errTooLarge is returned by ReadMessage for a message over the limit.
var errTooLarge = errors.New("message too large")

// transport is one established WebSocket connection. ReadMessage and
// SetReadDeadline are called by the reader goroutine only; the Write methods
// by the writer goroutine only; Close from either.
type transport interface {
	// ReadMessage returns the next data message, or errTooLarge when it
	// is longer than limit bytes (the rest of it is discarded by the next call).
	ReadMessage(limit int) ([]byte, error)
	SetReadDeadline(t time.Time) error
	// WriteBatch writes msgs as one text message, joined by '\n'.
	WriteBatch(msgs [][]byte, deadline time.Time) error
	WritePing(deadline time.Time) error
	WriteClose(code int, reason string, deadline time.Time) error
	Close() error
}

// wsUpgrader upgrades HTTP requests with gorilla/websocket. Write buffers
// come from a shared pool and are held only while a frame is written; the
// read buffer is small, so an idle connection costs little memory.
type wsUpgrader struct{ u websocket.Upgrader }

func newUpgrader(checkOrigin func(*http.Request) bool) *wsUpgrader {
	return &wsUpgrader{u: websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   512,
		WriteBufferSize:  16 << 10,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      checkOrigin,
	}}
}

// Upgrade completes the handshake; on failure it has already answered the
// request with an HTTP error. onPong is called by the reader on every pong.
func (u *wsUpgrader) Upgrade(w http.ResponseWriter, r *http.Request, onPong func()) (transport, error) {
	c, err := u.u.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	c.SetPongHandler(func(string) error { onPong(); return nil })
	return &wsTransport{c: c}, nil
}

type wsTransport struct{ c *websocket.Conn }

func (t *wsTransport) ReadMessage(limit int) ([]byte, error) {
	_, r, err := t.c.NextReader()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

func (t *wsTransport) SetReadDeadline(d time.Time) error { return t.c.SetReadDeadline(d) }

func (t *wsTransport) WriteBatch(msgs [][]byte, deadline time.Time) error {
	if err := t.c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	w, err := t.c.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		if i > 0 {
			if _, err := w.Write(newline); err != nil {
				return err
			}
		}
		if _, err := w.Write(m); err != nil {
			return err
		}
	}
	return w.Close()
}

var newline = []byte{'\n'}

func (t *wsTransport) WritePing(deadline time.Time) error {
	return t.c.WriteControl(websocket.PingMessage, nil, deadline)
}

func (t *wsTransport) WriteClose(code int, reason string, deadline time.Time) error {
	return t.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
}

func (t *wsTransport) Close() error { return t.c.Close() }
