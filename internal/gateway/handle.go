package gateway

// Client requests: subscribe, unsubscribe and ping, and the limits on them.

import (
	"errors"
	"fmt"
	"slices"
)

func (c *conn) handle(b []byte) {
	m, err := ParseClientMessage(b)
	if !c.limiter.Allow() {
		c.reply(encodeError(m.ID, m.HasID, CodeRateLimited, fmt.Sprintf("more than %g messages a second", c.hub.cfg.MessageRate)))
		c.strike()
		return
	}
	if err != nil {
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			pe = &ProtocolError{Code: CodeInvalidRequest, Message: err.Error()}
		}
		c.reply(encodeError(m.ID, m.HasID, pe.Code, pe.Message))
		return
	}
	switch m.Op {
	case OpPing:
		c.reply(encodeReply("pong", m.ID, m.HasID))
	case OpSubscribe:
		c.subscribe(&m)
	case OpUnsubscribe:
		for _, ch := range m.Channels {
			if i := c.findSub(ch); i >= 0 {
				c.hub.unregister(c.subs[i])
				c.subs = slices.Delete(c.subs, i, i+1)
			}
		}
		c.reply(encodeReply("ack", m.ID, m.HasID))
	}
}

// strike counts a limit violation; MaxStrikes of them close the connection.
func (c *conn) strike() {
	c.strikes++
	if int(c.strikes) >= c.hub.cfg.MaxStrikes {
		c.close(closePolicy, "limits exceeded")
	}
}

func (c *conn) subscribe(m *ClientMessage) {
	var add []Channel
	for _, ch := range m.Channels {
		if c.findSub(ch) >= 0 || slices.Contains(add, ch) {
			continue // already subscribed: nothing to do
		}
		if ch.Kind == KindAlerts && c.userID == 0 {
			c.reply(encodeError(m.ID, m.HasID, CodeUnauthorized, "alerts needs authentication (?token= or a session cookie)"))
			return
		}
		add = append(add, ch)
	}
	if max := c.hub.cfg.MaxSubscriptions; len(c.subs)+len(add) > max {
		c.reply(encodeError(m.ID, m.HasID, CodeTooManySubscriptions, fmt.Sprintf("at most %d subscriptions per connection", max)))
		c.hub.met.subsLimit.Inc()
		c.strike()
		return
	}
	// The ack goes first (then each channel's snapshot, then live data),
	// but only out once every channel is registered.
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
	defer func() { // also when a registration panics: the writer must run to close
		c.mu.Lock()
		c.holding = false
		c.signalLocked()
		c.mu.Unlock()
	}()
	c.reply(encodeReply("ack", m.ID, m.HasID))
	for _, ch := range add {
		s := &subscription{c: c, ch: ch, name: ch.String(), idx: -1}
		c.subs = append(c.subs, s)
		since, resume := m.Since[ch]
		c.hub.register(s, since, resume)
	}
}

// unsubscribeAll removes every subscription; called once the reader is done.
func (c *conn) unsubscribeAll() {
	for _, s := range c.subs {
		c.hub.unregister(s)
	}
	c.subs = nil
}

// findSub returns the index of ch in c.subs, or -1.
func (c *conn) findSub(ch Channel) int {
	for i, s := range c.subs {
		if s.ch == ch {
			return i
		}
	}
	return -1
}
