package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseTickInOrder: the fast paths find what the searches from the
// start find, for any input, or fail (and the caller searches).
func FuzzParseTickInOrder(f *testing.F) {
	for _, s := range []string{
		`{"type":"tick","channel":"ticks:B0001","seq":42,"data":{"symbol":"B0001","ts":1,"price":1,"size":1764244800}}`,
		`{"type":"tick","channel":"ticks:X","seq":7,"data":{"size":1.5e+15}}`,
		`{"type":"tick","channel":"ticks:X","seq":,"size":1}`,
		`{"type":"tick","channel":"a\"seq\":1","seq":2,"size":3}`,
		`{"push":{"channel":"ticks:A","pub":{"data":{"symbol":"A","size":123},"offset":7}}}`,
		`{"push":{"channel":"ticks:A","pub":{"offset":x,"data":{"size":1}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if got, ok := parseTickInOrder(msg); ok {
			want, wok := parseTickWith(msg, `"seq":`, true)
			if !wok || !sameTick(got, want) {
				t.Errorf("in order %+v; search %+v, %v", got, want, wok)
			}
		}
		if got, ok := parseCentrifugoPush(msg); ok {
			want, wok := parseTickWith(msg, `"offset":`, false)
			if !wok || !bytes.Contains(msg, []byte(`"pub":`)) || !sameTick(got, want) {
				t.Errorf("push %+v; search %+v, %v", got, want, wok)
			}
		}
	})
}

func sameTick(a, b wireTick) bool {
	return string(a.channel) == string(b.channel) && a.seq == b.seq && a.sentMicros == b.sentMicros
}

// FuzzParseTickJSON: what the reader takes from a tick message as the
// gateway and Centrifugo write it (encoding/json, their field order) is
// what encoding/json reads back from it.
func FuzzParseTickJSON(f *testing.F) {
	f.Add("B0001", uint64(42), 101.5, 1764244800123456.0, false)
	f.Add("BTC-USD", uint64(1), 0.0, 0.25, true)
	f.Add("X", uint64(0), -1.0, 1.5e15, true)
	f.Fuzz(func(t *testing.T, sym string, seq uint64, price, size float64, centrifugo bool) {
		if math.IsNaN(price) || math.IsInf(price, 0) || math.IsNaN(size) || math.IsInf(size, 0) || math.Abs(size) >= 1<<53 {
			// Not JSON; or an integer a float64 does not hold exactly
			// (encoding/json rounds it, the reader reads the digits; a
			// bench tick's size is below 10^9).
			t.Skip()
		}
		type data struct {
			Symbol string  `json:"symbol"`
			TS     int64   `json:"ts"`
			Price  float64 `json:"price"`
			Size   float64 `json:"size"`
		}
		type tick struct {
			Type    string `json:"type"`
			Channel string `json:"channel"`
			Seq     uint64 `json:"seq"`
			Data    data   `json:"data"`
		}
		type pub struct {
			Data   data   `json:"data"`
			Offset uint64 `json:"offset"`
		}
		type push struct {
			Push struct {
				Channel string `json:"channel"`
				Pub     pub    `json:"pub"`
			} `json:"push"`
		}
		d := data{Symbol: sym, TS: 1, Price: price, Size: size}
		var msg []byte
		var err error
		if centrifugo {
			var p push
			p.Push.Channel, p.Push.Pub = "ticks:"+sym, pub{Data: d, Offset: seq}
			msg, err = json.Marshal(p)
		} else {
			msg, err = json.Marshal(tick{Type: "tick", Channel: "ticks:" + sym, Seq: seq, Data: d})
		}
		if err != nil {
			t.Skip()
		}
		// The channel is taken as the bytes between its quotes: equal to
		// the decoded string when JSON needs no escape in it (the
		// server's channel names never do).
		if enc, _ := json.Marshal("ticks:" + sym); string(enc) != `"ticks:`+sym+`"` {
			t.Skip()
		}
		var got wireTick
		var ok bool
		if centrifugo {
			got, ok = parseCentrifugoPush(msg)
		} else {
			got, ok = parseTick(msg)
		}
		var back struct {
			Channel string `json:"channel"`
			Seq     uint64 `json:"seq"`
			Data    data   `json:"data"`
			Push    *struct {
				Channel string `json:"channel"`
				Pub     pub    `json:"pub"`
			} `json:"push"`
		}
		if err := json.Unmarshal(msg, &back); err != nil {
			t.Fatal(err)
		}
		if back.Push != nil {
			back.Channel, back.Seq, back.Data = back.Push.Channel, back.Push.Pub.Offset, back.Push.Pub.Data
		}
		want := wireTick{channel: []byte(back.Channel), seq: back.Seq, sentMicros: int64(back.Data.Size)}
		if !ok || !sameTick(got, want) {
			t.Errorf("%s: got %+v (%v), encoding/json %+v", msg, got, ok, want)
		}
		// The one-pass scan reads the same layout the same way.
		got, n, ok := scanTick(msg, centrifugo)
		if !ok || n != len(msg) || !sameTick(got, want) {
			t.Errorf("%s: scan %+v, %d of %d bytes (%v), encoding/json %+v", msg, got, n, len(msg), ok, want)
		}
	})
}

// FuzzScanTick: where the one-pass scan reads a message, the message ends
// where messages would split it and handle reads the same tick from it.
func FuzzScanTick(f *testing.F) {
	for _, s := range []string{
		`{"type":"tick","channel":"ticks:B0001","seq":42,"data":{"symbol":"B0001","ts":1764244800123,"price":101.25,"size":123456789}}` + "\n" + `{"type":"ack"}`,
		`{"push":{"channel":"ticks:B0001","pub":{"data":{"symbol":"B0001","ts":1,"price":1.5,"size":123}}}}`,
		`{"push":{"channel":"ticks:B0001","pub":{"data":{"symbol":"B0001","ts":1,"price":1.5,"size":123},"offset":9}}}` + "\n",
		`{"type":"tick","channel":"a","seq":1,"data":{"symbol":"s","ts":,"price":"size":1,"size":2}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, centrifugo bool) {
		got, n, ok := scanTick(p, centrifugo)
		if !ok {
			return
		}
		if n > len(p) || n < len(p) && p[n] != '\n' || bytes.IndexByte(p[:n], '\n') >= 0 {
			t.Fatalf("%q: message of %d bytes does not end at a line end", p, n)
		}
		msg := p[:n]
		var want wireTick
		var wok bool
		if centrifugo {
			want, wok = parseTickWith(msg, `"offset":`, false)
			wok = wok && bytes.HasPrefix(msg, centPushPrefix) && bytes.Contains(msg, []byte(`"pub":`)) && len(bytes.TrimSpace(msg)) == len(msg)
		} else {
			want, wok = parseTick(msg)
			wok = wok && bytes.HasPrefix(msg, tickPrefix)
		}
		if !wok || !sameTick(got, want) {
			t.Errorf("%q: scan %+v; handle's parse %+v, %v", msg, got, want, wok)
		}
	})
}

// serverFrame is an unmasked server frame.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// TestReaderFrames feeds the reader frames over a pipe a few bytes at a
// time: 7-, 16- and 64-bit lengths, a frame larger than the read buffer,
// a fragmented message, a ping (answered with a masked pong) and a
// normal close; every tick is counted once.
func TestReaderFrames(t *testing.T) {
	f := newLocalFleet(fleetConfig{Symbols: []string{"A", "B"}, Conns: 1 << 20}) // smallest buffers
	r := f.newReader(f.lat[0])
	client, server := net.Pipe()
	defer client.Close()
	r.c = client
	sent := time.Now().UnixMicro()
	tick := func(ch string, seq int) string {
		return `{"type":"tick","channel":"ticks:` + ch + `","seq":` + strconv.Itoa(seq) + `,"data":{"symbol":"` + ch + `","ts":1,"price":1,"size":` + strconv.Itoa(int(sent%sentModulus)) + `}}`
	}
	var big []string
	for i := range 200 { // ~20 KB: over the 4 KiB buffer, a 16-bit length
		big = append(big, tick("A", 10+i))
	}
	var huge []string
	for i := range 700 { // ~70 KB: a 64-bit length
		huge = append(huge, tick("B", 10+i))
	}
	var stream []byte
	stream = append(stream, serverFrame(true, opText, []byte(tick("A", 1)))...)
	stream = append(stream, serverFrame(true, opText, []byte(strings.Join(big, "\n")))...)
	stream = append(stream, serverFrame(true, opPing, []byte("p"))...)
	stream = append(stream, serverFrame(false, opText, []byte(tick("B", 1)+"\n"+tick("B", 2)[:20]))...)
	stream = append(stream, serverFrame(true, opContinuation, []byte(tick("B", 2)[20:]))...)
	stream = append(stream, serverFrame(true, opText, []byte(strings.Join(huge, "\n")))...)
	stream = append(stream, serverFrame(true, opClose, []byte{0x03, 0xe8})...)
	go func() {
		for i := 0; i < len(stream); i += 1000 {
			server.Write(stream[i:min(i+1000, len(stream))])
		}
	}()
	pong := make(chan []byte, 1)
	go func() {
		// The pong: masked, opcode 10, payload "p".
		b := make([]byte, 7)
		if _, err := server.Read(b); err == nil {
			pong <- b
		}
		close(pong)
	}()
	var err error
	for err == nil {
		err = r.pump()
	}
	if !isClosed(err) {
		t.Fatalf("read ended with %v, want the server's normal close", err)
	}
	st := f.Stats()
	if want := int64(1 + 200 + 2 + 700); st.Deliveries != want || st.OutOfOrder != 0 || st.Errors != 0 {
		t.Errorf("deliveries %d (want %d), out of order %d, errors %d", st.Deliveries, want, st.OutOfOrder, st.Errors)
	}
	if n := f.Latency().Count(); n != st.Deliveries {
		t.Errorf("%d latencies for %d deliveries", n, st.Deliveries)
	}
	if b := <-pong; len(b) != 7 || b[0] != 0x80|opPong || b[1] != 0x80|1 || b[6]^b[2] != 'p' {
		t.Errorf("pong frame % x", b)
	}
}

// TestReaderCloseCode: a close other than normal or going away is an
// error, as a browser reports it.
func TestReaderCloseCode(t *testing.T) {
	r := newLocalFleet(fleetConfig{}).newReader(NewHistogram())
	var m msgCounts
	if err := r.frame(true, opClose, []byte{0x03, 0xf0, 'x'}, 0, &m); err == nil || isClosed(err) {
		t.Errorf("close 1008: %v, want an error", err)
	}
	if err := r.frame(true, opClose, []byte{0x03, 0xe9}, 0, &m); !isClosed(err) {
		t.Errorf("close 1001: %v, want a normal close", err)
	}
}

// BenchmarkReaderFanin is the client's read path for a fan-in frame: 100
// ticks of 100 channels in one frame, read from a buffer (no socket).
func BenchmarkReaderFanin(b *testing.B) {
	syms := Symbols(100)
	f := newLocalFleet(fleetConfig{Symbols: syms, Conns: 1000})
	r := f.newReader(f.lat[0])
	var msgs []string
	for i, s := range syms {
		msgs = append(msgs, `{"type":"tick","channel":"ticks:`+s+`","seq":`+strconv.Itoa(i+1)+`,"data":{"symbol":"`+s+`","ts":1764244800123,"price":101.25,"size":123456789}}`)
	}
	frame := serverFrame(true, opText, []byte(strings.Join(msgs, "\n")))
	now := time.Now().UnixMicro()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		for i := range r.seqs {
			r.seqs[i] = 0
		}
		r.rd, r.wr = 0, copy(r.buf, frame)
		if err := r.frames(now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(syms)), "ns/delivery")
}
