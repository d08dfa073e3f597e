package gateway

import "time"

// procEpoch is the origin of wsTransport.wdeadline. A Sub between two
// times that both carry a monotonic reading (time.Now's do) uses it, so
// the cached deadline stays on the clock the socket's deadline runs on
// when the wall clock steps (an NTP step, a VM restore); Unix ns did not:
// a step back left an expired socket deadline looking current, and every
// waiting write failed (REVIEW-B F1).
var procEpoch = time.Now()

// sinceEpoch is t on wdeadline's scale. A deadline never lands exactly on
// procEpoch, so 0 still means none.
func sinceEpoch(t time.Time) int64 { return int64(t.Sub(procEpoch)) }
