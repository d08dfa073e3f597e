package market

// MaxSymbolLen is the longest symbol accepted, in bytes.
const MaxSymbolLen = 32

// symbolChars marks the bytes a symbol may contain: A-Z 0-9 . - _ /
var symbolChars = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range ".-_/" {
		t[c] = true
	}
	return t
}()

// ValidSymbol reports whether s is a well-formed symbol: 1–32 characters of
// A-Z 0-9 . - _ / (upper case only; "btc-usd" is not the same symbol as "BTC-USD").
func ValidSymbol(s string) bool {
	if len(s) == 0 || len(s) > MaxSymbolLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !symbolChars[s[i]] {
			return false
		}
	}
	return true
}

// CheckSymbol returns a *ValidationError naming field when s is not a valid symbol.
func CheckSymbol(field, s string) error {
	if ValidSymbol(s) {
		return nil
	}
	return Invalid(field, "%q is not a symbol (1-32 chars of A-Z 0-9 . - _ /)", truncate(s, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
