package gateway

// A connection's reader goroutine: waiting for and reading client messages.

import (
	"errors"
	"fmt"
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
	more := make(chan bool, 1)
	for {
		_ = c.t.SetReadDeadline(cfg.Now().Add(2 * cfg.PingInterval))
		if err := c.t.WaitReadable(); err != nil {
			return
		}
		go c.readOne(more)
		if !<-more {
			return
		}
	}
}

// readOne reads one message and handles it; it sends whether the
// connection goes on.
func (c *conn) readOne(more chan<- bool) {
	ok := false
	defer func() {
		if p := recover(); p != nil {
			c.hub.log.Error("websocket reader panic", "panic", fmt.Sprint(p))
			ok = false
		}
		more <- ok
	}()
	cfg := &c.hub.cfg
	b, err := c.t.ReadMessage(cfg.MaxMessageBytes)
	if errors.Is(err, errTooLarge) {
		if !c.isClosing() {
			c.reply(encodeError(0, false, CodeMessageTooLarge, fmt.Sprintf("messages are limited to %d bytes", cfg.MaxMessageBytes)))
			c.close(closePolicy, "message too large")
		}
		ok = true
		return
	}
	if err != nil {
		return
	}
	ok = true
	if b == nil {
		return // control frames only (a pong): back to waiting
	}
	if c.isClosing() {
		return // draining or closing: wait for the client's close
	}
	c.handle(b)
}
