package gateway

// A connection's reader goroutine: waiting for and reading client messages.

import (
	"errors"
	"fmt"
)

// readVerdict is what reading one message tells the read loop.
type readVerdict uint8

const (
	readOn     readVerdict = iota // read the next message
	readEnd                       // the connection ended: a read error, or the client's close
	readFailed                    // the client broke the protocol: a close frame is queued
)

// readLoop reads client messages until the connection fails or closes.
// It only waits here; each message is read and handled on a short-lived
// goroutine (client messages are rate-limited, so this costs little). The
// reader's stack thus never grows past the runtime's smallest (2 KiB):
// the runtime never shrinks a stack below four times what a goroutine
// blocked in a socket wait uses, so a reader that once ran the JSON
// encoding of a snapshot would hold 4–8 KiB for the life of the connection.
func (c *conn) readLoop() {
	cfg := &c.hub.cfg
	next := make(chan readVerdict, 1)
	for {
		_ = c.t.SetReadDeadline(cfg.Now().Add(2 * cfg.PingInterval))
		if err := c.t.WaitReadable(); err != nil {
			return
		}
		go c.readOne(next)
		switch <-next {
		case readEnd:
			return
		case readFailed:
			// Nothing more can be read as frames; what the client still
			// sends is dropped until it has the close frame and hangs up.
			c.t.Linger()
			return
		}
	}
}

// readOne reads one message and handles it; it sends the verdict.
func (c *conn) readOne(next chan<- readVerdict) {
	v := readEnd
	defer func() {
		if p := recover(); p != nil {
			c.hub.log.Error("websocket reader panic", "panic", fmt.Sprint(p))
			v = readEnd
		}
		next <- v
	}()
	b, err := c.t.ReadMessage(c.hub.cfg.MaxMessageBytes)
	if err != nil {
		var f *failure
		var pc *peerClose
		switch {
		case errors.As(err, &f):
			c.fail(f)
			v = readFailed
		case errors.As(err, &pc):
			// The answer follows what is queued (the replies to what the
			// client sent before its close).
			c.close(pc.code, "")
		}
		return
	}
	v = readOn
	if b == nil {
		return // control frames only (a pong): back to waiting
	}
	if c.isClosing() {
		return // draining or closing: wait for the client's close
	}
	c.handle(b)
}

// fail fails the connection (RFC 6455 §7.1.7): what is queued is written,
// then, for a message too large, an error message, then the close frame
// with f's code.
func (c *conn) fail(f *failure) {
	if f.code == closeTooBig && !c.isClosing() {
		c.reply(encodeError(0, false, CodeMessageTooLarge, f.reason))
	}
	c.close(f.code, f.reason)
}
