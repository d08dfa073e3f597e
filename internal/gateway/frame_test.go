package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPingRate checks the ping limiter against a clock: a burst at once,
// then one per interval, and no more than a burst after a long pause.
func TestPingRate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cfg := Config{PingRate: 2, PingBurst: 3, Now: func() time.Time { return now }}
	tr := &wsTransport{u: newUpgrader(nil, &cfg, nil)}
	allowed := func() (n int) {
		for tr.allowPing() {
			n++
		}
		return n
	}
	if n := allowed(); n != 3 {
		t.Errorf("at once: %d pings allowed, want the burst 3", n)
	}
	now = now.Add(500 * time.Millisecond)
	if n := allowed(); n != 1 {
		t.Errorf("after 500 ms at 2/s: %d allowed, want 1", n)
	}
	now = now.Add(time.Hour)
	if n := allowed(); n != 3 {
		t.Errorf("after an hour: %d allowed, want the burst 3", n)
	}
}

// TestFrameMetrics checks that failed connections are counted by kind and
// the close frames sent by code.
func TestFrameMetrics(t *testing.T) {
	e := newEnv(t, Config{})
	for _, send := range [][]byte{
		unmasked(finBit|opText, []byte(`{}`)),
		text([]byte("\xff")),
		header(finBit|opText, 1<<63-1),
		frame(finBit|opClose, rawClose(4321, "")),
		frame(finBit|opClose, nil),
	} {
		c := e.rawDial()
		if _, err := c.nc.Write(send); err != nil {
			t.Fatal(err)
		}
		for { // until the server hangs up, after counting its close frame
			if _, err := c.readFrame(); err != nil {
				break
			}
		}
	}
	m := e.hub.up.met
	for kind, want := range map[string]float64{kindUnmasked: 1, kindInvalidUTF8: 1, kindTooLarge: 1, kindReservedBits: 0} {
		if got := counterValue(t, m.failures, kind); got != want {
			t.Errorf("protocol errors of kind %s = %v, want %v", kind, got, want)
		}
	}
	for code, want := range map[string]float64{"1002": 1, "1007": 1, "1009": 1, "4000-4999": 1, "1005": 1} {
		if got := counterValue(t, m.closes, code); got != want {
			t.Errorf("closes with code %s = %v, want %v", code, got, want)
		}
	}
}

// counterValue reads the counter of vec with the one label value.
func counterValue(t *testing.T, vec *prometheus.CounterVec, value string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(vec)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// FuzzReadFrame runs the frame reader (wsTransport.ReadMessage) over a
// net.Conn that yields the fuzzer's bytes, and compares what it returns
// with refRead, a plain reading of RFC 6455 over the whole input: the same
// messages, then the same end (a failure's close code, the client's close,
// or the end of the input).
func FuzzReadFrame(f *testing.F) {
	for _, s := range [][]byte{
		text([]byte(`{"op":"ping","id":1}`)),
		cat(frame(opText, []byte("κό")[:1]), frame(finBit|opPing, []byte("p")), frame(finBit|opContinuation, []byte("κό")[1:])),
		fragments([]byte(`{"op":"subscribe","channels":["quotes"]}`), 7),
		frame(finBit|opBinary, []byte{0xff, 0}),
		frame(finBit|opClose, rawClose(1000, "bye")),
		frame(finBit|opClose, rawClose(1005, "")),
		frame(finBit|opClose, []byte{3}),
		frame(opText, []byte("a\xf0\x9d")),
		text([]byte("\xed\xa0\x80")),
		header(finBit|opText, 1<<63-1),
		header(finBit|opText, 1<<63),
		frame(finBit|0x40|opText, nil),
		unmasked(finBit|opText, []byte("{}")),
		frame(finBit|5, nil),
		frame(opPing, nil),
		pings(8),
		cat(frame(opText, []byte("ab")), frame(finBit|opText, []byte("cd"))),
		frame(finBit|opContinuation, nil),
		frame(finBit|opText, []byte(strings.Repeat("x", 300))),
	} {
		f.Add(s)
	}
	const limit, burst = 512, 5
	now := time.Unix(1_700_000_000, 0)
	cfg := Config{PingRate: 1, PingBurst: burst, Now: func() time.Time { return now }}
	u := newUpgrader(nil, &cfg, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := &wsTransport{nc: &bytesConn{r: bytes.NewReader(in)}, onPong: pongFunc(func() {}), u: u}
		var got refResult
		for got.end == "" {
			msg, err := tr.ReadMessage(limit)
			var fl *failure
			var pc *peerClose
			switch {
			case err == nil:
				if msg != nil {
					got.msgs = append(got.msgs, string(msg))
				}
			case errors.As(err, &fl):
				if len(fl.reason) > maxControl-2 || !utf8.ValidString(fl.reason) || !strings.Contains(strings.Join(failureKinds, " "), fl.kind) {
					t.Fatalf("failure %+v: bad reason or kind", fl)
				}
				got.end = "fail " + strconv.Itoa(fl.code)
			case errors.As(err, &pc):
				got.end = "close " + strconv.Itoa(pc.code)
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				got.end = "eof"
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		want := refRead(in, limit, burst)
		if got.end != want.end || strings.Join(got.msgs, "\x00") != strings.Join(want.msgs, "\x00") {
			t.Fatalf("input % x:\nreader    %q %s\nreference %q %s", in, got.msgs, got.end, want.msgs, want.end)
		}
	})
}

// refResult is what reading a whole input gives: the data messages, then
// how it ended ("eof", "close <code>" or "fail <code>").
type refResult struct {
	msgs []string
	end  string
}

// refRead is the reference for FuzzReadFrame: RFC 6455 §5 read frame by
// frame from a whole input, with the limits of the reader (a message of at
// most limit bytes, burst control frames at a stopped clock), checked in
// the same order. UTF-8 is checked differently: each fragment must leave
// valid text or valid text followed by the start of a rune (runePrefixes).
func refRead(in []byte, limit, burst int) refResult {
	var r refResult
	next := func(k uint64) ([]byte, bool) {
		if k > uint64(len(in)) {
			in = nil
			return nil, false
		}
		b := in[:k]
		in = in[k:]
		return b, true
	}
	var msg []byte
	started, isText, controls := false, false, 0
	for {
		h, ok := next(2)
		if !ok {
			return refResult{r.msgs, "eof"}
		}
		if h[0]&0x70 != 0 || h[1]&0x80 == 0 {
			return refResult{r.msgs, "fail 1002"}
		}
		op, fin, n := h[0]&0x0f, h[0]&0x80 != 0, uint64(h[1]&0x7f)
		ext := map[uint64]uint64{126: 2, 127: 8}[n]
		e, ok := next(ext + 4)
		if !ok {
			return refResult{r.msgs, "eof"}
		}
		switch ext {
		case 2:
			n = uint64(binary.BigEndian.Uint16(e))
		case 8:
			n = binary.BigEndian.Uint64(e)
			if n >= 1<<63 {
				return refResult{r.msgs, "fail 1002"}
			}
		}
		key := e[ext:]
		payload := func() ([]byte, bool) {
			p, ok := next(n)
			out := make([]byte, len(p))
			for i := range p {
				out[i] = p[i] ^ key[i%4]
			}
			return out, ok
		}
		if op >= 8 {
			if op > 10 || !fin || n > 125 {
				return refResult{r.msgs, "fail 1002"}
			}
			if op != 8 {
				if controls++; controls > burst {
					return refResult{r.msgs, "fail 1008"}
				}
			}
			p, ok := payload()
			if !ok {
				return refResult{r.msgs, "eof"}
			}
			if op == 8 {
				switch {
				case len(p) == 0:
					return refResult{r.msgs, "close 1005"}
				case len(p) == 1:
					return refResult{r.msgs, "fail 1002"}
				}
				code := int(binary.BigEndian.Uint16(p))
				if code < 1000 || code >= 5000 || code >= 1004 && code <= 1006 || code >= 1012 && code < 3000 {
					return refResult{r.msgs, "fail 1002"}
				}
				if !utf8.Valid(p[2:]) {
					return refResult{r.msgs, "fail 1007"}
				}
				return refResult{r.msgs, "close " + strconv.Itoa(code)}
			}
			continue
		}
		switch {
		case (op == 1 || op == 2) && !started:
			started, isText = true, op == 1
		case op == 0 && started:
		default:
			return refResult{r.msgs, "fail 1002"}
		}
		if uint64(len(msg))+n > uint64(limit) {
			return refResult{r.msgs, "fail 1009"}
		}
		p, ok := payload()
		if !ok {
			return refResult{r.msgs, "eof"}
		}
		msg = append(msg, p...)
		if isText && !utf8.Valid(msg) {
			cut := false
			for k := 1; k <= 3 && k <= len(msg) && !fin; k++ {
				cut = cut || utf8.Valid(msg[:len(msg)-k]) && runePrefixes()[string(msg[len(msg)-k:])]
			}
			if !cut {
				return refResult{r.msgs, "fail 1007"}
			}
		}
		if fin {
			r.msgs = append(r.msgs, string(msg))
			msg, started = nil, false
		}
	}
}

// runePrefixes holds every proper prefix of the UTF-8 encoding of every
// rune.
var runePrefixes = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool)
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		b := utf8.AppendRune(nil, r)
		for k := 1; k < len(b); k++ {
			m[string(b[:k])] = true
		}
	}
	return m
})

// bytesConn is a net.Conn that reads from r and drops what is written.
type bytesConn struct {
	r *bytes.Reader
}

func (c *bytesConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }
