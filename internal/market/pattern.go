package market

import (
	"strings"
)

// MaxPatterns is the most patterns a SymbolPatterns may hold.
const MaxPatterns = 64

// SymbolPatterns is a set of symbol patterns, e.g. an API key's scope
// "BTC-*,ETH-USD": comma-separated, in canonical form (trimmed, no
// duplicates), as ParseSymbolPatterns returns it. A pattern is a symbol in
// which '*' stands for any run of symbol characters, the empty one
// included: "BTC-*" matches BTC-USD and BTC-, "*-USD" matches ETH-USD, "*"
// every symbol. The empty set ("") is no restriction: it matches every
// symbol. It is a string so that values holding it stay comparable.
type SymbolPatterns string

// ParseSymbolPatterns parses a comma-separated list of patterns (blanks
// around commas ignored, duplicates dropped). The empty string is the empty
// set (every symbol). An empty pattern (as in "A,,B"), one of more than
// MaxSymbolLen characters or with a character that is neither a symbol
// character nor '*', or more than MaxPatterns of them is a
// *ValidationError for field "symbols".
func ParseSymbolPatterns(s string) (SymbolPatterns, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	return CheckSymbolPatterns(strings.Split(s, ","))
}

// CheckSymbolPatterns validates patterns as ParseSymbolPatterns does and
// returns them as a set (none: every symbol).
func CheckSymbolPatterns(patterns []string) (SymbolPatterns, error) {
	if len(patterns) > MaxPatterns {
		return "", Invalid("symbols", "at most %d patterns", MaxPatterns)
	}
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if err := checkPattern(p); err != nil {
			return "", err
		}
		if !containsString(out, p) {
			out = append(out, p)
		}
	}
	return SymbolPatterns(strings.Join(out, ",")), nil
}

func checkPattern(p string) error {
	ok := len(p) > 0 && len(p) <= MaxSymbolLen
	for i := 0; ok && i < len(p); i++ {
		ok = p[i] == '*' || symbolChars[p[i]]
	}
	if !ok {
		return Invalid("symbols", "%q is not a symbol pattern (1-32 chars of A-Z 0-9 . - _ / and * for any run)", truncate(p, 40))
	}
	return nil
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// String returns the patterns joined by commas ("" for every symbol), the
// form ParseSymbolPatterns reads.
func (ps SymbolPatterns) String() string { return string(ps) }

// List returns the patterns one by one (none for every symbol).
func (ps SymbolPatterns) List() []string {
	if ps == "" {
		return nil
	}
	return strings.Split(string(ps), ",")
}

// All reports whether ps matches every symbol (it is empty or holds "*").
func (ps SymbolPatterns) All() bool { return ps == "" || containsString(ps.List(), "*") }

// Match reports whether sym matches one of the patterns (always, for the
// empty set). It does not allocate, and takes time linear in len(sym) for
// a pattern with one '*' (at worst len(pattern)·len(sym)).
func (ps SymbolPatterns) Match(sym string) bool {
	if ps == "" {
		return true
	}
	for rest := string(ps); ; {
		p, more, found := strings.Cut(rest, ",")
		if matchGlob(p, sym) {
			return true
		}
		if !found {
			return false
		}
		rest = more
	}
}

// matchGlob matches s against p, where '*' matches any run of bytes: the
// classic greedy algorithm with one backtrack point (the last '*').
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
