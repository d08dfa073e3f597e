package feed

// A hand-written decoder of Binance's combined-stream aggTrade message, the
// feed's hot path: encoding/json's reflection and validation pass cost
// most of the parse (docs/benchmarks/feeds.md). It decodes only the plain
// form the venue sends — one object, the documented keys, strings without
// escapes or non-ASCII bytes, integers, true/false, no whitespace — into
// the same binanceEnvelope encoding/json would produce, and declines
// (ok = false) anything else, which then goes through encoding/json.
// FuzzBinanceFastEquivalent checks that whatever it accepts, encoding/json
// decodes to the same value.
//
// Its strings view msg (no copy): binance.parse reads them (a symbol is
// looked up, numbers parsed) and keeps none past the message, whose buffer
// the next read reuses.

// fastBinanceEnvelope decodes msg into env when msg is in the plain form.
func fastBinanceEnvelope(msg []byte, env *binanceEnvelope) bool {
	s := scanner{b: msg}
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		switch string(key) {
		case "stream":
			v, ok := s.str()
			if !ok {
				return false
			}
			env.Stream = view(v)
		case "data":
			if !fastBinanceAggTrade(&s, &env.Data) {
				return false
			}
		default: // result, id (control answers), anything else: encoding/json
			return false
		}
		if s.byte('}') {
			return s.end()
		}
		if !s.byte(',') {
			return false
		}
	}
}

// fastBinanceAggTrade decodes the object at s into a (merging into what a
// holds, as encoding/json does with a repeated key).
func fastBinanceAggTrade(s *scanner, a *binanceAggTrade) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') || len(key) != 1 {
			return false
		}
		switch key[0] {
		case 'e', 's', 'p', 'q':
			v, ok := s.str()
			if !ok {
				return false
			}
			switch key[0] {
			case 'e':
				a.Event = view(v)
			case 's':
				a.Symbol = view(v)
			case 'p':
				a.Price = view(v)
			case 'q':
				a.Qty = view(v)
			}
		case 'E', 'a', 'T', 'f', 'l':
			n, ok := s.int()
			if !ok {
				return false
			}
			switch key[0] {
			case 'E':
				a.EventTime = n
			case 'a':
				id := n // n itself stays on the stack: only the id is kept
				a.ID = &id
			case 'T':
				a.Time = n
			}
		case 'm', 'M':
			v, ok := s.bool()
			if !ok {
				return false
			}
			if key[0] == 'm' {
				a.Maker = v
			} else {
				a.Ignore = v
			}
		default:
			return false
		}
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// scanner reads the plain JSON subset of fastBinanceEnvelope.
type scanner struct {
	b []byte
	i int
}

// byte consumes c if it is next.
func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether everything was read.
func (s *scanner) end() bool { return s.i == len(s.b) }

// str reads a string of printable ASCII without escapes and returns its
// contents (a slice of the message).
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			v := s.b[start:s.i]
			s.i++
			return v, true
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// int reads a JSON integer (no fraction, no exponent) that fits an int64
// without overflow; at most 18 digits, so that no overflow check is needed.
func (s *scanner) int() (int64, bool) {
	neg := s.byte('-')
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 18 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// bool reads true or false.
func (s *scanner) bool() (bool, bool) {
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}
