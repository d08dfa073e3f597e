package gateway

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

func TestParseClientMessage(t *testing.T) {
	btc := Channel{Kind: KindTicks, Symbol: "BTC-USD"}
	tests := []struct {
		name string
		in   string
		want ClientMessage
		code string
	}{
		{"subscribe", `{"op":"subscribe","id":1,"channels":["ticks:BTC-USD","candles:EUR/USD:15m","quotes"]}`,
			ClientMessage{Op: OpSubscribe, ID: 1, HasID: true, Channels: []Channel{btc, {Kind: KindCandles, Symbol: "EUR/USD", Interval: market.Interval15m}, {Kind: KindQuotes}}}, ""},
		{"since", `{"op":"subscribe","id":2,"channels":["ticks:BTC-USD"],"since":{"ticks:BTC-USD":1041}}`,
			ClientMessage{Op: OpSubscribe, ID: 2, HasID: true, Channels: []Channel{btc}, Since: map[Channel]uint64{btc: 1041}}, ""},
		{"duplicates folded", `{"op":"unsubscribe","channels":["quotes","quotes"]}`,
			ClientMessage{Op: OpUnsubscribe, Channels: []Channel{{Kind: KindQuotes}}}, ""},
		{"ping", `{"op":"ping","id":4}`, ClientMessage{Op: OpPing, ID: 4, HasID: true}, ""},
		{"empty", ``, ClientMessage{}, CodeInvalidJSON},
		{"garbage", `{op:1`, ClientMessage{}, CodeInvalidJSON},
		{"array", `[1]`, ClientMessage{}, CodeInvalidRequest},
		{"no op", `{"id":9}`, ClientMessage{ID: 9, HasID: true}, CodeInvalidRequest},
		{"unknown op", `{"op":"x","id":9}`, ClientMessage{Op: "x", ID: 9, HasID: true}, CodeInvalidRequest},
		{"float id", `{"op":"ping","id":1.5}`, ClientMessage{}, CodeInvalidRequest},
		{"channels type", `{"op":"subscribe","channels":"quotes"}`, ClientMessage{}, CodeInvalidRequest},
		{"no channels", `{"op":"subscribe","id":1,"channels":[]}`, ClientMessage{Op: OpSubscribe, ID: 1, HasID: true}, CodeInvalidRequest},
		{"bad symbol", `{"op":"subscribe","channels":["ticks:btc"]}`, ClientMessage{Op: OpSubscribe}, CodeInvalidChannel},
		{"bad interval", `{"op":"subscribe","channels":["candles:BTC:7m"]}`, ClientMessage{Op: OpSubscribe}, CodeInvalidChannel},
		{"since not subscribed", `{"op":"subscribe","channels":["quotes"],"since":{"ticks:A":1}}`, ClientMessage{Op: OpSubscribe}, CodeInvalidRequest},
		{"since negative", `{"op":"subscribe","channels":["ticks:A"],"since":{"ticks:A":-1}}`, ClientMessage{}, CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientMessage([]byte(tt.in))
			var pe *ProtocolError
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("ParseClientMessage(%q) error %v", tt.in, err)
			case tt.code != "" && (!errors.As(err, &pe) || pe.Code != tt.code):
				t.Fatalf("ParseClientMessage(%q) error %v, want code %s", tt.in, err, tt.code)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseClientMessage(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","id":1,"channels":["ticks:BTC-USD","candles:BTC-USD:1m","quotes"]}`,
		`{"op":"subscribe","id":2,"channels":["ticks:BTC-USD"],"since":{"ticks:BTC-USD":1041}}`,
		`{"op":"unsubscribe","id":3,"channels":["quotes"]}`,
		`{"op":"ping","id":4}`,
		`{"op":"subscribe","channels":["candles:EUR/USD:1d","alerts"]}`,
		`{"op":"subscribe","id":"x"}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseClientMessage(b)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" {
				t.Fatalf("error %v is not a *ProtocolError with code and message", err)
			}
			// The error frame the client gets is valid JSON and echoes the id.
			var e struct {
				Type string `json:"type"`
				ID   *int64 `json:"id"`
				Code string `json:"code"`
			}
			frame := encodeError(m.ID, m.HasID, pe.Code, pe.Message)
			if err := json.Unmarshal(frame, &e); err != nil || e.Type != "error" || e.Code != pe.Code ||
				(e.ID != nil) != m.HasID || m.HasID && *e.ID != m.ID {
				t.Fatalf("error frame %s for %v (id %d, %v): %v", frame, pe, m.ID, m.HasID, err)
			}
			if m.Channels != nil || m.Since != nil {
				t.Fatalf("refused message carries channels %v, since %v", m.Channels, m.Since)
			}
			return
		}
		switch m.Op {
		case OpPing:
			if len(m.Channels) != 0 || len(m.Since) != 0 {
				t.Fatalf("ping with channels %v, since %v", m.Channels, m.Since)
			}
		case OpSubscribe, OpUnsubscribe:
			if len(m.Channels) == 0 || len(m.Channels) > maxChannelsPerMessage {
				t.Fatalf("%s with %d channels accepted", m.Op, len(m.Channels))
			}
			seen := map[Channel]bool{}
			for _, ch := range m.Channels {
				back, err := ParseChannel(ch.String())
				if err != nil || back != ch {
					t.Fatalf("channel %v does not round-trip: %v %v", ch, back, err)
				}
				if seen[ch] {
					t.Fatalf("channel %v twice", ch)
				}
				seen[ch] = true
			}
			for ch := range m.Since {
				if m.Op != OpSubscribe || ch.Kind != KindTicks || !seen[ch] {
					t.Fatalf("since %v accepted for %s of %v", ch, m.Op, m.Channels)
				}
			}
		default:
			t.Fatalf("op %q accepted", m.Op)
		}
	})
}
