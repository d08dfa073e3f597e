package stage3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// msg is any server message of docs/reference/websocket.md.
type msg struct {
	Type    string          `json:"type"`
	ID      int             `json:"id"`
	Channel string          `json:"channel"`
	Seq     uint64          `json:"seq"`
	From    uint64          `json:"from"`
	To      uint64          `json:"to"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	AfterMS int             `json:"after_ms"`
	Data    json.RawMessage `json:"data"`
}

// follower is a WebSocket client that follows one ticks channel the way a
// well-behaved program would: it records every tick's seq, and when the
// server says reconnect (or the connection ends) it waits after_ms, dials
// the fallback address (the balancer) and resubscribes with since = the
// last seq it saw. Protocol violations (a seq not above the previous one,
// an error message) are recorded, not fatal, so the test can report all.
type follower struct {
	name     string
	channel  string
	first    string // host:port of the first connection
	fallback string // host:port used after a reconnect

	mu         sync.Mutex
	seqs       []uint64
	idx        []int // the tick's index (its size, see feeder), per seq
	gaps       []msg
	problems   []string
	reconnects int       // reconnect messages received
	resumedAt  time.Time // first tick after the first reconnect
	reconnAt   time.Time // when the first reconnect message arrived
	conns      int       // successful subscriptions
	subscribed chan struct{}
}

func newFollower(name, channel, first, fallback string) *follower {
	return &follower{name: name, channel: channel, first: first, fallback: fallback, subscribed: make(chan struct{})}
}

func (f *follower) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// snapshot returns copies of what the follower has recorded.
func (f *follower) snapshot() (seqs []uint64, gaps []msg, problems []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.seqs...), append([]msg(nil), f.gaps...), append([]string(nil), f.problems...)
}

// indexes returns the indexes of the ticks received, in arrival order.
func (f *follower) indexes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.idx...)
}

func (f *follower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seqs)
}

// has reports whether the follower received the tick of index i.
func (f *follower) has(i int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.idx, i)
}

func (f *follower) last() (uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seqs) == 0 {
		return 0, false
	}
	return f.seqs[len(f.seqs)-1], true
}

// run follows the channel until ctx ends.
func (f *follower) run(ctx context.Context) {
	addr := f.first
	for ctx.Err() == nil {
		wait := f.session(ctx, addr)
		addr = f.fallback
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// session is one connection: dial, subscribe (with since when resuming),
// read until the connection ends; it returns how long to wait before the
// next attempt.
func (f *follower) session(ctx context.Context, addr string) time.Duration {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.DialContext(ctx, "ws://"+addr+"/ws", http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		return 100 * time.Millisecond // refused, or 503 from a draining instance: try again
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	sub := map[string]any{"op": "subscribe", "id": 1, "channels": []string{f.channel}}
	if last, ok := f.last(); ok {
		sub["since"] = map[string]uint64{f.channel: last}
	}
	if err := c.WriteJSON(sub); err != nil {
		return 100 * time.Millisecond
	}
	wait := 100 * time.Millisecond
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return wait
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var m msg
			if err := json.Unmarshal(line, &m); err != nil {
				f.problem("bad server message %q: %v", line, err)
				continue
			}
			switch m.Type {
			case "ack":
				f.mu.Lock()
				f.conns++
				if f.conns == 1 {
					close(f.subscribed)
				}
				f.mu.Unlock()
			case "error":
				f.problem("error message from %s: %s %s", addr, m.Code, m.Message)
			case "gap":
				f.mu.Lock()
				f.gaps = append(f.gaps, m)
				f.mu.Unlock()
			case "reconnect":
				f.mu.Lock()
				f.reconnects++
				if f.reconnAt.IsZero() {
					f.reconnAt = time.Now()
				}
				f.mu.Unlock()
				wait = time.Duration(m.AfterMS) * time.Millisecond
			case "tick":
				if m.Channel != f.channel {
					continue
				}
				f.mu.Lock()
				if n := len(f.seqs); n > 0 && m.Seq <= f.seqs[n-1] {
					f.problems = append(f.problems, fmt.Sprintf("seq %d after %d from %s: not strictly increasing", m.Seq, f.seqs[n-1], addr))
				} else {
					var d struct {
						Size float64 `json:"size"`
					}
					if err := json.Unmarshal(m.Data, &d); err != nil {
						f.problems = append(f.problems, fmt.Sprintf("tick data %s: %v", m.Data, err))
					}
					f.seqs = append(f.seqs, m.Seq)
					f.idx = append(f.idx, int(d.Size))
				}
				if f.reconnects > 0 && f.resumedAt.IsZero() && f.conns > 1 {
					f.resumedAt = time.Now()
				}
				f.mu.Unlock()
			}
		}
	}
}
