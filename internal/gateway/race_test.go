//go:build race

package gateway

// raceEnabled: the race detector is on (its instrumentation grows every
// stack frame).
const raceEnabled = true
