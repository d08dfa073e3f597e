package bus

// OlderThan exposes olderThan to the external tests.
var OlderThan = olderThan
