package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/findash/findash/internal/market"
)

// Parse decodes a batch of ticks: a JSON array of tick objects, or NDJSON
// (one object per line, blank lines ignored). Each object has exactly the
// fields symbol, ts (Unix ms as an integer, or an RFC 3339 string), price and
// size (optional, default 0); an unknown field is an error. Every tick is
// checked with lim.Check at the time now (values within the bounds, ts in
// the window around now).
//
// A batch is accepted whole or not at all: if any line is bad, Parse
// returns no ticks and a *BatchError naming every bad line (at most
// MaxLineErrors of them) with its reason. NDJSON is checked to the end,
// line by line; in a JSON array, an element that is not well-formed ends
// the scan, since the next element cannot be found reliably. An empty
// batch is an error on line 0.
//
// Parse is a hand-written scanner for this one shape: no reflection, and one
// allocation per distinct symbol rather than per tick.
func Parse(body []byte, lim market.Limits, now time.Time) ([]market.Tick, error) {
	p := parser{b: body, lim: lim.WithDefaults(), now: now}
	i := p.ws(0)
	if i == len(body) {
		return nil, emptyBatch()
	}
	p.out = make([]market.Tick, 0, bytes.Count(body, []byte{'{'}))
	switch body[i] {
	case '[':
		p.array(i + 1)
	case '{':
		p.ndjson()
	default:
		p.fail(1, syntax("expected a JSON array or NDJSON objects, found %q", body[i]))
	}
	if len(p.errs.Lines) > 0 {
		return nil, &p.errs
	}
	if len(p.out) == 0 {
		return nil, emptyBatch()
	}
	return p.out, nil
}

// MaxLineErrors is the most bad lines one BatchError lists; the scan stops
// at the next one (BatchError.Truncated).
const MaxLineErrors = 100

func emptyBatch() error {
	return &BatchError{Lines: []*LineError{{Line: 0, Err: market.Reject("body", market.ReasonEmpty, "no ticks")}}}
}

type parser struct {
	b       []byte
	lim     market.Limits
	now     time.Time
	out     []market.Tick
	errs    BatchError
	lastSym string
	syms    map[string]string
}

// fail records that line is bad and reports whether the scan may go on.
// A line is listed once, with its first error.
func (p *parser) fail(line int, err error) bool {
	if n := len(p.errs.Lines); n > 0 && p.errs.Lines[n-1].Line == line {
		return true
	}
	if len(p.errs.Lines) == MaxLineErrors {
		p.errs.Truncated = true
		return false
	}
	p.errs.Lines = append(p.errs.Lines, &LineError{Line: line, Err: err})
	return true
}

// check validates a fully scanned object of line and keeps it or records why not.
func (p *parser) check(line int, t *market.Tick, seen int, deferred error) bool {
	var err error
	switch {
	case seen&hasSymbol == 0:
		err = market.Reject("symbol", market.ReasonMissingField, "is required")
	case seen&hasTS == 0:
		err = market.Reject("ts", market.ReasonMissingField, "is required")
	case seen&hasPrice == 0:
		err = market.Reject("price", market.ReasonMissingField, "is required")
	case deferred != nil:
		err = deferred
	default:
		err = p.lim.Check(t, p.now)
	}
	if err != nil {
		return p.fail(line, err)
	}
	if len(p.errs.Lines) == 0 { // once the batch is rejected, keep nothing
		p.out = append(p.out, *t)
	}
	return true
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ws skips JSON whitespace from i.
func (p *parser) ws(i int) int {
	for i < len(p.b) && isWS(p.b[i]) {
		i++
	}
	return i
}

func syntax(format string, args ...any) error { return market.Invalid("json", format, args...) }

// array parses the elements of a JSON array whose '[' ends before i.
func (p *parser) array(i int) {
	line := 1
	i = p.ws(i)
	if i < len(p.b) && p.b[i] == ']' {
		if j := p.ws(i + 1); j != len(p.b) {
			p.fail(1, syntax("unexpected %q after the array", p.b[j]))
		}
		return // no ticks: Parse reports the empty batch
	}
	for {
		i = p.ws(i)
		next, t, seen, deferred, err := p.object(i)
		if err != nil {
			p.fail(line, err)
			return
		}
		if !p.check(line, &t, seen, deferred) {
			return
		}
		i = p.ws(next)
		if i == len(p.b) {
			p.fail(line, syntax("unexpected end of input, expected ',' or ']'"))
			return
		}
		switch p.b[i] {
		case ',':
			i++
			line++
		case ']':
			if j := p.ws(i + 1); j != len(p.b) {
				p.fail(line, syntax("unexpected %q after the array", p.b[j]))
			}
			return
		default:
			p.fail(line, syntax("unexpected %q, expected ',' or ']'", p.b[i]))
			return
		}
	}
}

// ndjson parses one object per line; a bad line does not stop the scan.
func (p *parser) ndjson() {
	line := 0
	for start := 0; start < len(p.b); {
		line++
		end := bytes.IndexByte(p.b[start:], '\n')
		if end < 0 {
			end = len(p.b)
		} else {
			end += start
		}
		i := p.ws(start)
		start = end + 1
		if i >= end {
			continue // blank line
		}
		next, t, seen, deferred, err := p.object(i)
		if err == nil && next > end {
			err = syntax("an object must fit on one line")
		}
		if err == nil {
			if j := p.ws(next); j < end {
				err = syntax("unexpected %q after the object", p.b[j])
			}
		}
		if err != nil {
			if !p.fail(line, err) {
				return
			}
			continue
		}
		if !p.check(line, &t, seen, deferred) {
			return
		}
	}
}

// Field bits, to tell a missing field from a zero one.
const (
	hasSymbol = 1 << iota
	hasTS
	hasPrice
)

// object scans one tick object starting at i and returns the index after
// its '}', the tick, which fields it had (the has* bits) and an error about
// a value that did not stop the scan (deferred: a ts that is not a time).
// err means the object is not well-formed and the scan stopped at next.
func (p *parser) object(i int) (next int, t market.Tick, seen int, deferred, err error) {
	b := p.b
	if i >= len(b) || b[i] != '{' {
		return i, t, 0, nil, p.unexpected(i, "'{'")
	}
	i = p.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		i++
		goto done
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, t, seen, deferred, p.unexpected(i, "a field name")
		}
		ks, ke, esc, err := p.str(i)
		if err != nil {
			return i, t, seen, deferred, err
		}
		key := b[ks:ke]
		var unesc string
		if esc {
			if unesc, err = unescape(b[ks-1 : ke+1]); err != nil {
				return i, t, seen, deferred, err
			}
			key = []byte(unesc)
		}
		i = p.ws(ke + 1)
		if i >= len(b) || b[i] != ':' {
			return i, t, seen, deferred, p.unexpected(i, "':'")
		}
		i = p.ws(i + 1)
		switch string(key) {
		case "symbol":
			if i >= len(b) || b[i] != '"' {
				return i, t, seen, deferred, market.Invalid("symbol", "must be a string")
			}
			s, e, esc, err := p.str(i)
			if err != nil {
				return i, t, seen, deferred, err
			}
			if t.Symbol, err = p.symbol(s, e, esc); err != nil {
				return i, t, seen, deferred, err
			}
			seen |= hasSymbol
			i = e + 1
		case "ts":
			if i < len(b) && b[i] == '"' {
				s, e, esc, err := p.str(i)
				if err != nil {
					return i, t, seen, deferred, err
				}
				var ts int64
				if ts, err = parseTime(b[s-1:e+1], esc); err != nil && deferred == nil {
					deferred = err
				}
				t.TS, i = ts, e+1
			} else {
				e, integer, err := p.number(i)
				if err != nil {
					return i, t, seen, deferred, market.Reject("ts", market.ReasonTSInvalid, "must be Unix milliseconds or an RFC 3339 string")
				}
				v, perr := strconv.ParseInt(string(b[i:e]), 10, 64)
				switch {
				case deferred != nil:
				case !integer:
					deferred = market.Reject("ts", market.ReasonTSInvalid, "must be a whole number of Unix milliseconds")
				case perr != nil:
					deferred = market.Reject("ts", market.ReasonTSInvalid, "%s is out of range", truncate(b[i:e], 40))
				}
				t.TS, i = v, e
			}
			seen |= hasTS
		case "price", "size":
			e, _, err := p.number(i)
			if err != nil {
				return i, t, seen, deferred, market.Invalid(string(key), "must be a number")
			}
			// The grammar is checked: ParseFloat can fail only on range,
			// and then returns ±Inf or 0, which Limits judges.
			v, _ := strconv.ParseFloat(string(b[i:e]), 64)
			if key[0] == 'p' {
				t.Price = v
				seen |= hasPrice
			} else {
				t.Size = v
			}
			i = e
		default:
			return i, t, seen, deferred, syntax("unknown field %q", truncate(key, 32))
		}
		i = p.ws(i)
		if i >= len(b) {
			return i, t, seen, deferred, p.unexpected(i, "',' or '}'")
		}
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return i, t, seen, deferred, p.unexpected(i, "',' or '}'")
		}
		i = p.ws(i + 1)
	}
done:
	return i, t, seen, deferred, nil
}

func (p *parser) unexpected(i int, want string) error {
	if i >= len(p.b) {
		return syntax("unexpected end of input, expected %s", want)
	}
	return syntax("unexpected %q, expected %s", p.b[i], want)
}

// str scans the JSON string whose opening quote is at i and returns the
// bounds of its raw contents (b[s:e], b[e] is the closing quote) and whether
// it holds escapes.
func (p *parser) str(i int) (s, e int, esc bool, err error) {
	b := p.b
	s = i + 1
	for j := s; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return s, j, esc, nil
		case c == '\\':
			esc = true
			j++
		case c < 0x20:
			return s, j, esc, syntax("control character in a string")
		}
	}
	return s, len(b), esc, syntax("unterminated string")
}

// symbol returns the symbol in b[s:e], interned: a batch allocates each
// distinct symbol once.
func (p *parser) symbol(s, e int, esc bool) (string, error) {
	raw := p.b[s:e]
	if esc {
		return unescape(p.b[s-1 : e+1])
	}
	if string(raw) == p.lastSym {
		return p.lastSym, nil
	}
	if sym, ok := p.syms[string(raw)]; ok {
		p.lastSym = sym
		return sym, nil
	}
	if p.syms == nil {
		p.syms = make(map[string]string)
	}
	sym := string(raw)
	if len(p.syms) < 4096 {
		p.syms[sym] = sym
	}
	p.lastSym = sym
	return sym, nil
}

// number scans a JSON number at i (strict grammar) and returns its end and
// whether it is an integer (no fraction, no exponent).
func (p *parser) number(i int) (end int, integer bool, err error) {
	b := p.b
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return j, false, syntax("invalid number")
	}
	integer = true
	if j < len(b) && b[j] == '.' {
		integer = false
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return j, false, syntax("invalid number")
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		integer = false
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return j, false, syntax("invalid number")
		}
	}
	return j, integer, nil
}

// parseTime parses a quoted RFC 3339 time into Unix ms.
func parseTime(quoted []byte, esc bool) (int64, error) {
	s := string(quoted[1 : len(quoted)-1])
	if esc {
		var err error
		if s, err = unescape(quoted); err != nil {
			return 0, err
		}
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, market.Reject("ts", market.ReasonTSInvalid, "%q is not an RFC 3339 time", truncate([]byte(s), 40))
	}
	return tm.UnixMilli(), nil
}

// unescape decodes a quoted JSON string with escapes (the rare path).
func unescape(quoted []byte) (string, error) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return "", syntax("invalid string escape")
	}
	return s, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
