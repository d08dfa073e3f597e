package bench

import (
	"bytes"
	"net"
	"strconv"
)

// reader is the state of one connection's read loop. Only its own
// goroutine touches it (connecting, then reading).
type reader struct {
	f     *localFleet
	shard *Histogram
	c     net.Conn

	// buf[rd:wr] is read and not yet handled; need is how many bytes
	// from rd the frame at rd needs when incomplete.
	buf          []byte
	rd, wr, need int
	msg          []byte // a fragmented message being assembled
	fragmented   bool
	lat          []int64           // latencies of the read being handled, µs
	seqs         []uint64          // last seq of the fleet's channel i (0: none yet)
	others       map[string]uint64 // last seq of channels outside the fleet's (never expected)
	acked        bool

	centrifugo bool // the server speaks Centrifugo's JSON protocol
	awaiting   int  // centrifugo: replies still expected before acked
	pong       bool // centrifugo: a ping ({}) arrived, answer it
}

type msgCounts struct{ deliveries, gaps, outOfOrder, errors int64 }

var (
	tickPrefix  = []byte(`{"type":"tick",`)
	gapPrefix   = []byte(`{"type":"gap",`)
	ackPrefix   = []byte(`{"type":"ack"`)
	errorPrefix = []byte(`{"type":"error"`)
)

// handle accounts for one message. now is the frame's arrival, µs since
// the Unix epoch.
func (r *reader) handle(msg []byte, now int64, m *msgCounts) {
	if r.centrifugo {
		r.handleCentrifugo(msg, now, m)
		return
	}
	switch {
	case bytes.HasPrefix(msg, tickPrefix):
		t, ok := parseTick(msg)
		if !ok {
			m.errors++
			return
		}
		r.delivered(t, now, m)
	case bytes.HasPrefix(msg, gapPrefix):
		m.gaps++
	case bytes.HasPrefix(msg, ackPrefix):
		r.acked = true
	case bytes.HasPrefix(msg, errorPrefix):
		m.errors++
	}
}

// delivered accounts for one tick delivered.
func (r *reader) delivered(t wireTick, now int64, m *msgCounts) {
	m.deliveries++
	if t.seq > 0 {
		// seq increases per symbol but is not dense (docs/reference/http.md), so a
		// jump is no loss; losses show as gap messages and as deliveries
		// short of the expected count. A seq that does not increase is an
		// order violation. seqs[i] is 0 until channel i's first seq.
		if i, ok := r.f.chans[string(t.channel)]; ok && i < len(r.seqs) {
			if last := r.seqs[i]; last > 0 && t.seq <= last {
				m.outOfOrder++
			}
			r.seqs[i] = t.seq
		} else {
			// A channel outside the run's: never expected, kept apart.
			if r.others == nil {
				r.others = make(map[string]uint64)
			}
			if last, seen := r.others[string(t.channel)]; seen && t.seq <= last {
				m.outOfOrder++
			}
			r.others[string(t.channel)] = t.seq
		}
	}
	if t.sentMicros > 0 {
		r.lat = append(r.lat, sinceSent(now, t.sentMicros))
	}
}

// wireTick is what the reader needs of a tick message.
type wireTick struct {
	channel    []byte
	seq        uint64
	sentMicros int64 // the tick's size: its send time in µs modulo sentModulus (see doc.go)
}

// parseTick extracts channel, seq and size from a tick message as the
// gateway writes it, without allocating: parseTickWith, with a fast path
// for the gateway's field order.
func parseTick(msg []byte) (wireTick, bool) {
	if t, ok := parseTickInOrder(msg); ok {
		return t, true
	}
	return parseTickWith(msg, `"seq":`, true)
}

var (
	channelKey  = []byte(`"channel":"`)
	seqAfterKey = []byte(`,"seq":`)
	sizeKey     = []byte(`"size":`)
	centPushKey = []byte(`{"push":{"channel":"`)
	pubAfterKey = []byte(`,"pub":`)
	offsetKey   = []byte(`"offset":`)
)

// parseTickInOrder reads a tick message in the gateway's order
// ({"type":"tick","channel":"…","seq":N,"data":{…"size":N…}}), each field
// found where the last ended instead of by a search from the start; it
// fails (and parseTick searches) on any other order. Where it succeeds it
// finds what parseTickWith finds: no earlier occurrence of a key is
// possible in what it skips (the channel holds no quote), which
// FuzzParseTickInOrder checks.
func parseTickInOrder(msg []byte) (wireTick, bool) {
	var t wireTick
	p, ok := bytes.CutPrefix(msg, tickPrefix)
	if !ok {
		return t, false
	}
	if p, ok = bytes.CutPrefix(p, channelKey); !ok {
		return t, false
	}
	end := bytes.IndexByte(p, '"')
	if end < 0 {
		return t, false
	}
	t.channel = p[:end]
	if p, ok = bytes.CutPrefix(p[end+1:], seqAfterKey); !ok {
		return t, false
	}
	if t.seq, ok = leadingUint(p); !ok {
		return t, false
	}
	i := bytes.Index(p, sizeKey)
	if i < 0 {
		return t, false
	}
	t.sentMicros = parseSize(p[i+len(sizeKey):])
	return t, true
}

// parseCentrifugoPush reads a publication push in Centrifugo's order
// ({"push":{"channel":"…","pub":{"data":{…"size":N…},"offset":N}}}), the
// way parseTickWith(msg, `"offset":`, false) does after a check for
// "pub":, with no search over the prefix; it fails on any other order.
func parseCentrifugoPush(msg []byte) (wireTick, bool) {
	var t wireTick
	p, ok := bytes.CutPrefix(msg, centPushKey)
	if !ok {
		return t, false
	}
	end := bytes.IndexByte(p, '"')
	if end < 0 {
		return t, false
	}
	t.channel = p[:end]
	if p, ok = bytes.CutPrefix(p[end+1:], pubAfterKey); !ok {
		return t, false
	}
	if i := bytes.Index(p, offsetKey); i >= 0 {
		if t.seq, ok = leadingUint(p[i+len(offsetKey):]); !ok {
			return t, false
		}
	}
	i := bytes.Index(p, sizeKey)
	if i < 0 {
		return t, false
	}
	t.sentMicros = parseSize(p[i+len(sizeKey):])
	return t, true
}

// parseSize reads the number at the start of b (a tick's size): plain
// digits as an integer, anything else through ParseFloat; 0 when it is
// not a number.
func parseSize(b []byte) int64 {
	num := b[:numberLen(b)]
	if v, ok := leadingUint(num); ok && len(num) == digitsLen(num) {
		return int64(v)
	}
	if f, err := strconv.ParseFloat(string(num), 64); err == nil {
		return int64(f) // not one of ours, or formatted as a float
	}
	return 0
}

// parseTickWith is parseTick with the name of the sequence field; when
// that field is optional and absent, seq is 0 (not checked).
func parseTickWith(msg []byte, seqKey string, seqRequired bool) (wireTick, bool) {
	var t wireTick
	ch, ok := after(msg, `"channel":"`)
	if !ok {
		return t, false
	}
	end := bytes.IndexByte(ch, '"')
	if end < 0 {
		return t, false
	}
	t.channel = ch[:end]
	if seq, ok := after(msg, seqKey); ok {
		s, ok := leadingUint(seq)
		if !ok {
			return t, false
		}
		t.seq = s
	} else if seqRequired {
		return t, false
	}
	size, ok := after(msg, `"size":`)
	if !ok {
		return t, false
	}
	t.sentMicros = parseSize(size)
	return t, true
}

func after(b []byte, key string) ([]byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil, false
	}
	return b[i+len(key):], true
}

func digitsLen(b []byte) int {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}

func numberLen(b []byte) int {
	n := 0
	for n < len(b) && (b[n] >= '0' && b[n] <= '9' || b[n] == '.' || b[n] == 'e' || b[n] == 'E' || b[n] == '-' || b[n] == '+') {
		n++
	}
	return n
}

// leadingUint parses the decimal digits at the start of b.
func leadingUint(b []byte) (uint64, bool) {
	var v uint64
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + uint64(b[n]-'0')
		n++
	}
	return v, n > 0
}

var (
	tickChannelPrefix = []byte(`{"type":"tick","channel":"`)
	dataSymbolKey     = []byte(`,"data":{"symbol":"`)
	pubDataSymbolKey  = []byte(`,"pub":{"data":{"symbol":"`)
	tsKey             = []byte(`,"ts":`)
	priceKey          = []byte(`,"price":`)
	sizeAfterKey      = []byte(`,"size":`)
	offsetAfterKey    = []byte(`,"offset":`)
)

// scanTick reads the message at the start of p when it is a tick in the
// exact layout the gateway writes (appendTick) or, with centrifugo, a
// Centrifugo publication push of a bench tick
// ({"push":{"channel":"…","pub":{"data":{…},"offset":N}}}, offset
// optional), and returns the tick and the message's length n: p[n] is the
// '\n' before the next message, or n == len(p). It is the fast path of
// messages: one pass, no search, no split. ok false: anything else, which
// messages splits and handle reads. Where ok, the tick is what handle
// finds in p[:n] (FuzzScanTick): the strings it skips hold no quote,
// backslash or newline, so no key and no message end hides in them.
func scanTick(p []byte, centrifugo bool) (t wireTick, n int, ok bool) {
	q := p
	if centrifugo {
		q, ok = bytes.CutPrefix(q, centPushKey)
	} else {
		q, ok = bytes.CutPrefix(q, tickChannelPrefix)
	}
	if !ok {
		return t, 0, false
	}
	if t.channel, q, ok = plainString(q); !ok {
		return t, 0, false
	}
	if centrifugo {
		q, ok = bytes.CutPrefix(q, pubDataSymbolKey)
	} else {
		if q, ok = bytes.CutPrefix(q, seqAfterKey); !ok {
			return t, 0, false
		}
		d := digitsLen(q)
		if t.seq, ok = leadingUint(q[:d]); !ok {
			return t, 0, false
		}
		q, ok = bytes.CutPrefix(q[d:], dataSymbolKey)
	}
	if !ok {
		return t, 0, false
	}
	if _, q, ok = plainString(q); !ok {
		return t, 0, false
	}
	if q, ok = bytes.CutPrefix(q, tsKey); !ok {
		return t, 0, false
	}
	if q, ok = bytes.CutPrefix(q[numberLen(q):], priceKey); !ok {
		return t, 0, false
	}
	if q, ok = bytes.CutPrefix(q[numberLen(q):], sizeAfterKey); !ok {
		return t, 0, false
	}
	t.sentMicros = parseSize(q)
	q = q[numberLen(q):]
	if centrifugo {
		if q, ok = bytes.CutPrefix(q, []byte("}")); !ok {
			return t, 0, false
		}
		if r, has := bytes.CutPrefix(q, offsetAfterKey); has {
			d := digitsLen(r)
			if t.seq, ok = leadingUint(r[:d]); !ok {
				return t, 0, false
			}
			q = r[d:]
		}
		q, ok = bytes.CutPrefix(q, []byte("}}}"))
	} else {
		q, ok = bytes.CutPrefix(q, []byte("}}"))
	}
	if !ok || len(q) > 0 && q[0] != '\n' {
		return t, 0, false
	}
	return t, len(p) - len(q), true
}

// plainString returns the bytes of p up to the first '"' and what follows
// that quote; false if a backslash or newline comes first, or no quote.
func plainString(p []byte) (s, rest []byte, ok bool) {
	for i, c := range p {
		switch c {
		case '"':
			return p[:i], p[i+1:], true
		case '\\', '\n':
			return nil, nil, false
		}
	}
	return nil, nil, false
}
