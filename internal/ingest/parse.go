package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/findash/findash/internal/market"
)

// LineError says which tick of a batch was bad and why. Line is 1-based: the
// NDJSON line, or the array element's index + 1; 0 means the body as a whole
// (for example an empty batch). It matches market.ErrInvalid with errors.Is.
type LineError struct {
	Line int
	Err  error
}

// Error implements error: "line 3: price: must be > 0 and finite".
func (e *LineError) Error() string {
	if e.Line <= 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the cause (usually a *market.ValidationError).
func (e *LineError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, market.ErrInvalid) true.
func (e *LineError) Is(target error) bool { return target == market.ErrInvalid }

// Parse decodes a batch of ticks: a JSON array of tick objects, or NDJSON
// (one object per line, blank lines ignored). Each object has exactly the
// fields symbol, ts (Unix ms as an integer, or an RFC 3339 string), price and
// size (optional, default 0); an unknown field is an error. Every tick is
// checked with (*market.Tick).Validate. The first bad tick (or syntax error)
// rejects the whole batch with a *LineError; so does an empty batch.
//
// Parse is a hand-written scanner for this one shape: no reflection, and one
// allocation per distinct symbol rather than per tick.
func Parse(body []byte) ([]market.Tick, error) {
	p := parser{b: body}
	i := p.ws(0)
	if i == len(body) {
		return nil, &LineError{Line: 0, Err: market.Invalid("body", "no ticks")}
	}
	p.out = make([]market.Tick, 0, bytes.Count(body, []byte{'{'}))
	var err error
	switch body[i] {
	case '[':
		err = p.array(i + 1)
	case '{':
		err = p.ndjson()
	default:
		return nil, &LineError{Line: 1, Err: market.Invalid("json", "expected a JSON array or NDJSON objects, found %q", body[i])}
	}
	if err != nil {
		return nil, err
	}
	if len(p.out) == 0 {
		return nil, &LineError{Line: 0, Err: market.Invalid("body", "no ticks")}
	}
	return p.out, nil
}

type parser struct {
	b       []byte
	out     []market.Tick
	lastSym string
	syms    map[string]string
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
func (p *parser) array(i int) error {
	line := 1
	i = p.ws(i)
	if i < len(p.b) && p.b[i] == ']' {
		return &LineError{Line: 0, Err: market.Invalid("body", "no ticks")}
	}
	for {
		i = p.ws(i)
		next, err := p.object(i)
		if err != nil {
			return &LineError{Line: line, Err: err}
		}
		i = p.ws(next)
		if i == len(p.b) {
			return &LineError{Line: line, Err: syntax("unexpected end of input, expected ',' or ']'")}
		}
		switch p.b[i] {
		case ',':
			i++
			line++
		case ']':
			if j := p.ws(i + 1); j != len(p.b) {
				return &LineError{Line: line, Err: syntax("unexpected %q after the array", p.b[j])}
			}
			return nil
		default:
			return &LineError{Line: line, Err: syntax("unexpected %q, expected ',' or ']'", p.b[i])}
		}
	}
}

// ndjson parses one object per line.
func (p *parser) ndjson() error {
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
		if i >= end {
			start = end + 1
			continue // blank line
		}
		next, err := p.object(i)
		if err == nil && next > end {
			err = syntax("an object must fit on one line")
		}
		if err == nil {
			if j := p.ws(next); j < end {
				err = syntax("unexpected %q after the object", p.b[j])
			}
		}
		if err != nil {
			return &LineError{Line: line, Err: err}
		}
		start = end + 1
	}
	return nil
}

// Field bits, to tell a missing field from a zero one.
const (
	hasSymbol = 1 << iota
	hasTS
	hasPrice
)

// object parses one tick object starting at i, appends the validated tick to
// p.out and returns the index after its '}'.
func (p *parser) object(i int) (int, error) {
	b := p.b
	if i >= len(b) || b[i] != '{' {
		return i, p.unexpected(i, "'{'")
	}
	var t market.Tick
	seen := 0
	i = p.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		i++
		goto done
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, p.unexpected(i, "a field name")
		}
		ks, ke, esc, err := p.str(i)
		if err != nil {
			return i, err
		}
		key := b[ks:ke]
		var unesc string
		if esc {
			if unesc, err = unescape(b[ks-1 : ke+1]); err != nil {
				return i, err
			}
			key = []byte(unesc)
		}
		i = p.ws(ke + 1)
		if i >= len(b) || b[i] != ':' {
			return i, p.unexpected(i, "':'")
		}
		i = p.ws(i + 1)
		switch string(key) {
		case "symbol":
			if i >= len(b) || b[i] != '"' {
				return i, market.Invalid("symbol", "must be a string")
			}
			s, e, esc, err := p.str(i)
			if err != nil {
				return i, err
			}
			if t.Symbol, err = p.symbol(s, e, esc); err != nil {
				return i, err
			}
			seen |= hasSymbol
			i = e + 1
		case "ts":
			if i < len(b) && b[i] == '"' {
				s, e, esc, err := p.str(i)
				if err != nil {
					return i, err
				}
				if t.TS, err = parseTime(b[s-1:e+1], esc); err != nil {
					return i, err
				}
				i = e + 1
			} else {
				e, integer, err := p.number(i)
				if err != nil {
					return i, market.Invalid("ts", "must be Unix milliseconds or an RFC 3339 string")
				}
				if !integer {
					return i, market.Invalid("ts", "must be a whole number of Unix milliseconds")
				}
				v, err := strconv.ParseInt(string(b[i:e]), 10, 64)
				if err != nil {
					return i, market.Invalid("ts", "%s is out of range", b[i:e])
				}
				t.TS, i = v, e
			}
			seen |= hasTS
		case "price", "size":
			e, _, err := p.number(i)
			if err != nil {
				return i, market.Invalid(string(key), "must be a number")
			}
			// The grammar is checked: ParseFloat can fail only on range,
			// and then returns ±Inf or 0, which Validate judges.
			v, _ := strconv.ParseFloat(string(b[i:e]), 64)
			if key[0] == 'p' {
				t.Price = v
				seen |= hasPrice
			} else {
				t.Size = v
			}
			i = e
		default:
			return i, syntax("unknown field %q", truncate(key, 32))
		}
		i = p.ws(i)
		if i >= len(b) {
			return i, p.unexpected(i, "',' or '}'")
		}
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return i, p.unexpected(i, "',' or '}'")
		}
		i = p.ws(i + 1)
	}
done:
	switch {
	case seen&hasSymbol == 0:
		return i, market.Invalid("symbol", "is required")
	case seen&hasTS == 0:
		return i, market.Invalid("ts", "is required")
	case seen&hasPrice == 0:
		return i, market.Invalid("price", "is required")
	}
	if err := t.Validate(); err != nil {
		return i, err
	}
	p.out = append(p.out, t)
	return i, nil
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
		return 0, market.Invalid("ts", "%q is not an RFC 3339 time", truncate([]byte(s), 40))
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
