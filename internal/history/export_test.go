package history

// The number parsers, for FuzzNumbersEquivalent (package history_test).
var (
	ParseFloat = parseFloat
	ParseUint  = parseUint
	ParseInt   = parseInt
)
