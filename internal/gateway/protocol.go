package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/findash/findash/internal/market"
)

// Error codes of the error message (docs/reference/websocket.md).
const (
	CodeInvalidJSON          = "invalid_json"
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidChannel       = "invalid_channel"
	CodeUnauthorized         = "unauthorized"
	CodeTooManySubscriptions = "too_many_subscriptions"
	CodeRateLimited          = "rate_limited"
	CodeMessageTooLarge      = "message_too_large"
)

// Client operations.
const (
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpPing        = "ping"
)

// ProtocolError is a client mistake, answered with an error message carrying
// Code and Message.
type ProtocolError struct {
	Code    string // one of the Code* constants
	Message string // human text
}

// Error implements error.
func (e *ProtocolError) Error() string { return e.Code + ": " + e.Message }

func protoErr(code, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ChannelKind says what a channel carries.
type ChannelKind uint8

// The channel kinds.
const (
	KindTicks   ChannelKind = iota + 1 // ticks:<SYM>
	KindCandles                        // candles:<SYM>:<interval>
	KindQuotes                         // quotes
	KindAlerts                         // alerts (authenticated user's own)
)

// Channel is a parsed channel name.
type Channel struct {
	Kind     ChannelKind
	Symbol   string          // ticks and candles
	Interval market.Interval // candles
}

// String returns the channel's canonical name, e.g. "candles:BTC-USD:1m".
func (c Channel) String() string {
	switch c.Kind {
	case KindTicks:
		return "ticks:" + c.Symbol
	case KindCandles:
		return "candles:" + c.Symbol + ":" + c.Interval.String()
	case KindQuotes:
		return "quotes"
	case KindAlerts:
		return "alerts"
	}
	return "invalid"
}

// ParseChannel parses a channel name: "ticks:<SYM>", "candles:<SYM>:<interval>",
// "quotes" or "alerts". A bad name returns a *ProtocolError with code
// invalid_channel.
func ParseChannel(s string) (Channel, error) {
	switch {
	case s == "quotes":
		return Channel{Kind: KindQuotes}, nil
	case s == "alerts":
		return Channel{Kind: KindAlerts}, nil
	case strings.HasPrefix(s, "ticks:"):
		sym := s[len("ticks:"):]
		if !market.ValidSymbol(sym) {
			return Channel{}, protoErr(CodeInvalidChannel, "%s: %s is not a symbol (1-32 chars of A-Z 0-9 . - _ /)", quoteShort(s), quoteShort(sym))
		}
		return Channel{Kind: KindTicks, Symbol: sym}, nil
	case strings.HasPrefix(s, "candles:"):
		rest := s[len("candles:"):]
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return Channel{}, protoErr(CodeInvalidChannel, "%s: want candles:<symbol>:<interval>", quoteShort(s))
		}
		sym, ivs := rest[:i], rest[i+1:]
		if !market.ValidSymbol(sym) {
			return Channel{}, protoErr(CodeInvalidChannel, "%s: %s is not a symbol (1-32 chars of A-Z 0-9 . - _ /)", quoteShort(s), quoteShort(sym))
		}
		iv, err := market.ParseInterval(ivs)
		if err != nil {
			return Channel{}, protoErr(CodeInvalidChannel, "%s: interval %s is not one of 1s 1m 5m 15m 1h 1d", quoteShort(s), quoteShort(ivs))
		}
		return Channel{Kind: KindCandles, Symbol: sym, Interval: iv}, nil
	}
	return Channel{}, protoErr(CodeInvalidChannel, "%s is not a channel (ticks:<symbol>, candles:<symbol>:<interval>, quotes, alerts)", quoteShort(s))
}

// quoteShort quotes s for an error message, cut to 48 bytes.
func quoteShort(s string) string {
	if len(s) > 48 {
		s = s[:48]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return strconv.Quote(s) + "…"
	}
	return strconv.Quote(s)
}

// maxChannelsPerMessage bounds one subscribe or unsubscribe, whatever the
// connection's subscription limit.
const maxChannelsPerMessage = 1000

// ClientMessage is one parsed client → server message.
type ClientMessage struct {
	Op       string    // OpSubscribe, OpUnsubscribe or OpPing
	ID       int64     // the client's id, echoed in ack, error and pong
	HasID    bool      // whether the message carried an id
	Channels []Channel // subscribe and unsubscribe: at least one, no duplicates
	// Since maps a ticks channel of Channels to the last seq the client
	// has; the server replays what came after (subscribe only).
	Since map[Channel]uint64
}

type rawClientMessage struct {
	Op       string            `json:"op"`
	ID       json.RawMessage   `json:"id"`
	Channels []string          `json:"channels"`
	Since    map[string]uint64 `json:"since"`
}

// ParseClientMessage parses and validates one client message. It never
// panics. On error it returns a *ProtocolError (code invalid_json,
// invalid_request or invalid_channel) and, when the id could be read, a
// ClientMessage with ID and HasID set so the error can echo it.
func ParseClientMessage(b []byte) (ClientMessage, error) {
	m, err := parseClientMessage(b)
	if err != nil {
		return ClientMessage{Op: m.Op, ID: m.ID, HasID: m.HasID}, err
	}
	return m, nil
}

func parseClientMessage(b []byte) (ClientMessage, error) {
	var m ClientMessage
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return m, protoErr(CodeInvalidJSON, "empty message")
	}
	if !json.Valid(b) {
		return m, protoErr(CodeInvalidJSON, "message is not valid JSON")
	}
	if b[0] != '{' {
		return m, protoErr(CodeInvalidRequest, "message must be a JSON object")
	}
	var raw rawClientMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return m, protoErr(CodeInvalidRequest, "field %s has the wrong type", quoteShort(te.Field))
		}
		return m, protoErr(CodeInvalidRequest, "message does not match the protocol")
	}
	if len(raw.ID) > 0 && string(raw.ID) != "null" {
		id, err := strconv.ParseInt(string(raw.ID), 10, 64)
		if err != nil {
			return m, protoErr(CodeInvalidRequest, "id must be an integer")
		}
		m.ID, m.HasID = id, true
	}
	m.Op = raw.Op
	switch raw.Op {
	case OpPing:
		return m, nil
	case OpSubscribe, OpUnsubscribe:
	case "":
		return m, protoErr(CodeInvalidRequest, "missing op (subscribe, unsubscribe or ping)")
	default:
		return m, protoErr(CodeInvalidRequest, "unknown op %s (want subscribe, unsubscribe or ping)", quoteShort(raw.Op))
	}
	if len(raw.Channels) == 0 {
		return m, protoErr(CodeInvalidRequest, "%s needs a non-empty channels list", raw.Op)
	}
	if len(raw.Channels) > maxChannelsPerMessage {
		return m, protoErr(CodeInvalidRequest, "at most %d channels per message", maxChannelsPerMessage)
	}
	m.Channels = make([]Channel, 0, len(raw.Channels))
	seen := make(map[Channel]bool, len(raw.Channels))
	for _, s := range raw.Channels {
		ch, err := ParseChannel(s)
		if err != nil {
			return m, err
		}
		if seen[ch] {
			continue // a repeated channel is the same request
		}
		seen[ch] = true
		m.Channels = append(m.Channels, ch)
	}
	if len(raw.Since) > 0 {
		if raw.Op != OpSubscribe {
			return m, protoErr(CodeInvalidRequest, "since is only for subscribe")
		}
		m.Since = make(map[Channel]uint64, len(raw.Since))
		for s, seq := range raw.Since {
			ch, err := ParseChannel(s)
			if err != nil {
				return m, err
			}
			if ch.Kind != KindTicks {
				return m, protoErr(CodeInvalidRequest, "since %s: only ticks channels can resume", quoteShort(s))
			}
			if !seen[ch] {
				return m, protoErr(CodeInvalidRequest, "since %s: channel is not in channels", quoteShort(s))
			}
			m.Since[ch] = seq
		}
	}
	return m, nil
}

// ParseSubscribeQuery parses the channels of a connect-time subscription:
// the values of the ?subscribe= query parameter, each a comma-separated
// list of channel names ("ticks:BTC-USD,quotes"). It returns a subscribe
// message without an id (nil Channels when there is none) or a
// *ProtocolError: a bad channel name (invalid_channel) or more than
// maxChannelsPerMessage names (invalid_request). A repeated channel is
// kept once. It never panics.
func ParseSubscribeQuery(values []string) (ClientMessage, error) {
	m := ClientMessage{Op: OpSubscribe}
	var seen map[Channel]bool
	n := 0
	for _, v := range values {
		n += strings.Count(v, ",") + 1
	}
	if n > maxChannelsPerMessage {
		return m, protoErr(CodeInvalidRequest, "at most %d channels in subscribe", maxChannelsPerMessage)
	}
	for _, v := range values {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			ch, err := ParseChannel(name)
			if err != nil {
				return ClientMessage{Op: OpSubscribe}, err
			}
			if seen == nil && len(m.Channels) >= 8 { // long lists: no quadratic scan
				seen = make(map[Channel]bool, n)
				for _, c := range m.Channels {
					seen[c] = true
				}
			}
			if seen != nil && seen[ch] || seen == nil && slices.Contains(m.Channels, ch) {
				continue
			}
			if seen != nil {
				seen[ch] = true
			}
			m.Channels = append(m.Channels, ch)
		}
	}
	return m, nil
}
