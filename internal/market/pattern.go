package market

import (
	"slices"
	"strings"
)

// MaxPatterns is the most patterns a SymbolPatterns may hold.
const MaxPatterns = 64

// SymbolPatterns is a set of symbol patterns, e.g. an API key's scope
// "BTC-*,ETH-USD". A pattern is a symbol in which '*' stands for any run of
// symbol characters, the empty one included: "BTC-*" matches BTC-USD and
// BTC-, "*-USD" matches ETH-USD, "*" every symbol. The nil (empty) set is no
// restriction: it matches every symbol. Values are immutable and safe for
// concurrent use.
type SymbolPatterns []string

// ParseSymbolPatterns parses a comma-separated list of patterns (blanks
// around commas ignored, duplicates dropped). The empty string is the empty
// set (every symbol). A pattern of more than MaxSymbolLen characters, with
// a character that is neither a symbol character nor '*', or more than
// MaxPatterns of them is a *ValidationError for field "symbols".
func ParseSymbolPatterns(s string) (SymbolPatterns, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return CheckSymbolPatterns(strings.Split(s, ","))
}

// CheckSymbolPatterns validates patterns as ParseSymbolPatterns does and
// returns them trimmed, in order, without duplicates; empty ones are an
// error (as is "BTC-*,,ETH-USD").
func CheckSymbolPatterns(patterns []string) (SymbolPatterns, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	if len(patterns) > MaxPatterns {
		return nil, Invalid("symbols", "at most %d patterns", MaxPatterns)
	}
	out := make(SymbolPatterns, 0, len(patterns))
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if err := checkPattern(p); err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func checkPattern(p string) error {
	if len(p) == 0 || len(p) > MaxSymbolLen {
		return Invalid("symbols", "%q is not a symbol pattern (1-32 chars of A-Z 0-9 . - _ / and * for any run)", truncate(p, 40))
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '*' && !symbolChars[p[i]] {
			return Invalid("symbols", "%q is not a symbol pattern (1-32 chars of A-Z 0-9 . - _ / and * for any run)", truncate(p, 40))
		}
	}
	return nil
}

// String returns the patterns joined by commas ("" for every symbol), the
// form ParseSymbolPatterns reads.
func (ps SymbolPatterns) String() string { return strings.Join(ps, ",") }

// All reports whether ps matches every symbol (it is empty or holds "*").
func (ps SymbolPatterns) All() bool { return len(ps) == 0 || slices.Contains(ps, "*") }

// Match reports whether sym matches one of the patterns (always, for the
// empty set). It takes time linear in len(sym) times the number of '*' per
// pattern, and does not allocate.
func (ps SymbolPatterns) Match(sym string) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if matchGlob(p, sym) {
			return true
		}
	}
	return false
}

// matchGlob matches s against p, where '*' matches any run of bytes: the
// classic greedy algorithm with one backtrack point (the last '*'), which
// is linear for patterns of one '*' and O(len(p)·len(s)) at worst.
func matchGlob(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
