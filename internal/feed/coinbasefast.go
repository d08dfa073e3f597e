package feed

import "unsafe"

// A hand-written decoder of Coinbase's match and heartbeat messages, the
// Coinbase feed's hot path: encoding/json cost ~5 µs of the feed's
// per-trade CPU (docs/benchmarks/feeds.md). Like the Binance one
// (binancefast.go) it decodes only the plain form the venue sends — one
// object, the keys below, strings without escapes or non-ASCII bytes,
// integers, no whitespace — into the coinbaseMsg encoding/json would
// produce, and declines (ok = false) anything else, which then goes
// through encoding/json. FuzzCoinbaseFastEquivalent checks that whatever
// it accepts, encoding/json decodes to the same value.
//
// The strings it returns view msg (no copy), except Type and ProductID,
// which are interned: they outlive the message (a Trade's symbol, a key of
// the sequence map). The others must not be kept past the parse of msg,
// whose buffer the next read reuses.

// fastCoinbaseMsg decodes msg into m when msg is in the plain form;
// products interns the product ids the feed subscribed to.
func fastCoinbaseMsg(msg []byte, m *coinbaseMsg, products map[string]string) bool {
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
		case "type", "product_id", "time", "size", "price", "maker_order_id", "taker_order_id", "side":
			v, ok := s.str()
			if !ok {
				return false
			}
			switch string(key) {
			case "type":
				m.Type = coinbaseType(v)
			case "product_id":
				if p, ok := products[string(v)]; ok {
					m.ProductID = p
				} else {
					m.ProductID = string(v)
				}
			case "time":
				m.Time = view(v)
			case "size":
				m.Size = view(v)
			case "price":
				m.Price = view(v)
			}
		case "trade_id", "sequence", "last_trade_id":
			n, ok := s.int()
			if !ok {
				return false
			}
			switch string(key) {
			case "trade_id":
				id := n // n itself stays on the stack: only the id is kept
				m.TradeID = &id
			case "sequence":
				m.Sequence = n
			case "last_trade_id":
				m.LastTradeID = n
			}
		default: // channels, message, reason, …: encoding/json
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

// coinbaseType returns the message type of v, without allocating for the
// types the feed reads.
func coinbaseType(v []byte) string {
	switch string(v) {
	case "match":
		return "match"
	case "last_match":
		return "last_match"
	case "heartbeat":
		return "heartbeat"
	case "subscriptions":
		return "subscriptions"
	}
	return string(v)
}

// view returns b as a string without copying: valid only while b is.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// fastCoinbaseTime returns the Unix milliseconds of a time in the form
// Coinbase sends, 2006-01-02T15:04:05.999999999Z (0 to 9 fraction
// digits, UTC), the value time.Parse(time.RFC3339Nano, s).UnixMilli()
// gives; ok is false for any other form (time.Parse then decides).
// FuzzCoinbaseTimeEquivalent checks the two agree.
func fastCoinbaseTime(s string) (ms int64, ok bool) {
	if len(s) < 20 || len(s) > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	var frac int64 // milliseconds of the fraction (truncated, as UnixMilli does)
	if rest := s[19 : len(s)-1]; rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return 0, false
		}
		f, ok := digits(rest[1:])
		if !ok {
			return 0, false
		}
		for range 10 - len(rest) { // scale to nanoseconds
			f *= 10
		}
		frac = f / 1e6
	}
	days := daysFromCivil(year, month, day)
	return (days*86400+hour*3600+minute*60+sec)*1000 + frac, true
}

// digits parses s, made only of ASCII digits, as a decimal number.
func digits(s string) (int64, bool) {
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, len(s) > 0
}

// daysIn returns the number of days of month m of year y.
func daysIn(m, y int64) int64 {
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return int64([13]uint8{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m])
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's days_from_civil).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
