package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/findash/findash/internal/market"
)

// Wire format of one message (one symbol's batch), little endian:
//
//	byte  0      format version (1)
//	byte  1      symbol length L (1..market.MaxSymbolLen)
//	bytes 2..    symbol (L bytes)
//	2 bytes      tick count n (1..MaxTicksPerMessage)
//	n × 24 bytes ts int64 (ms, UTC), price float64 bits, size float64 bits
//
// Fixed-width ticks let the decoder check the length exactly before it reads
// anything, and decode without allocating per tick (the symbol string is made
// once per message and shared by every tick).
const (
	formatVersion = 1
	tickSize      = 24
	// MaxTicksPerMessage is the most ticks one log message holds: the tick's
	// index in its message fills the low 16 bits of its seq.
	MaxTicksPerMessage = 1<<16 - 1
)

// errFormat is the cause of every decoding failure.
var errFormat = errors.New("bus: malformed tick message")

// TickSeq returns the seq of the tick at index in the message with stream
// sequence streamSeq: streamSeq<<16 | index. It strictly increases along the
// log, so per symbol too, with no coordination between publishers.
func TickSeq(streamSeq uint64, index int) uint64 { return streamSeq<<16 | uint64(index) }

// StreamSeq returns the stream sequence of the message that holds the tick
// with seq tickSeq (the inverse of TickSeq).
func StreamSeq(tickSeq uint64) uint64 { return tickSeq >> 16 }

// encodedLen returns the payload size of a message of n ticks of symbol.
func encodedLen(symbol string, n int) int { return 2 + len(symbol) + 2 + n*tickSize }

// appendMessage appends the encoding of ticks (all of one symbol, 1 to
// MaxTicksPerMessage of them) to dst.
func appendMessage(dst []byte, ticks []market.Tick) []byte {
	sym := ticks[0].Symbol
	dst = append(dst, formatVersion, byte(len(sym)))
	dst = append(dst, sym...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(ticks)))
	for i := range ticks {
		t := &ticks[i]
		dst = binary.LittleEndian.AppendUint64(dst, uint64(t.TS))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(t.Price))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(t.Size))
	}
	return dst
}

// decodeMessage appends the ticks of payload to dst, with Seq set from
// streamSeq. syms, when not nil, interns symbol strings so that a symbol seen
// before costs no allocation. Every tick is validated: the payload comes from
// the network and a bad one is rejected whole.
func decodeMessage(dst []market.Tick, payload []byte, streamSeq uint64, syms map[string]string) ([]market.Tick, error) {
	if len(payload) < 4 || payload[0] != formatVersion {
		return dst, fmt.Errorf("%w: bad header", errFormat)
	}
	l := int(payload[1])
	if l == 0 || l > market.MaxSymbolLen || len(payload) < 2+l+2 {
		return dst, fmt.Errorf("%w: bad symbol length %d", errFormat, l)
	}
	symBytes := payload[2 : 2+l]
	if !market.ValidSymbol(string(symBytes)) { // no allocation: the conversion does not escape
		return dst, fmt.Errorf("%w: bad symbol", errFormat)
	}
	n := int(binary.LittleEndian.Uint16(payload[2+l:]))
	body := payload[2+l+2:]
	if n == 0 || len(body) != n*tickSize {
		return dst, fmt.Errorf("%w: %d ticks in %d bytes", errFormat, n, len(body))
	}
	sym, ok := syms[string(symBytes)] // no allocation for the lookup
	if !ok {
		sym = string(symBytes)
		if syms != nil {
			if len(syms) >= maxInterned {
				clear(syms)
			}
			syms[sym] = sym
		}
	}
	base := len(dst)
	dst = growTicks(dst, n)
	for i := 0; i < n; i++ {
		b := body[i*tickSize : i*tickSize+tickSize]
		t := &dst[base+i]
		t.Symbol = sym
		t.TS = int64(binary.LittleEndian.Uint64(b))
		t.Price = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		t.Size = math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))
		t.Seq = TickSeq(streamSeq, i)
		if t.TS < market.MinTS || t.TS > market.MaxTS ||
			!(t.Price > 0) || math.IsInf(t.Price, 0) || !(t.Size >= 0) || math.IsInf(t.Size, 0) {
			return dst[:base], fmt.Errorf("%w: tick %d out of range", errFormat, i)
		}
	}
	return dst, nil
}

// maxInterned bounds the symbol intern table of one consumer.
const maxInterned = 1 << 14

// growTicks extends dst by n elements, reallocating only when needed.
func growTicks(dst []market.Tick, n int) []market.Tick {
	if cap(dst)-len(dst) < n {
		nd := make([]market.Tick, len(dst), len(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	return dst[:len(dst)+n]
}

// subjectPrefix is the subject namespace of the tick stream.
const subjectPrefix = "findash.ticks."

// Subject returns the subject of symbol's messages: findash.ticks.<token>,
// where the token is the symbol with '.' (the only symbol character NATS
// forbids inside a token) replaced by '~' (which no symbol contains).
func Subject(symbol string) string {
	return subjectPrefix + strings.ReplaceAll(symbol, ".", "~")
}

// SymbolOf returns the symbol of subject, the inverse of Subject; ok is false
// when subject is not a tick subject.
//
// A partitioned log (Config.Partitions) stores findash.ticks.<p>.<token>:
// the symbol is the last token, which never holds a '.'.
func SymbolOf(subject string) (symbol string, ok bool) {
	tok, ok := strings.CutPrefix(subject, subjectPrefix)
	if !ok || tok == "" {
		return "", false
	}
	tok = tok[strings.LastIndexByte(tok, '.')+1:]
	if tok == "" {
		return "", false
	}
	return strings.ReplaceAll(tok, "~", "."), true
}
