package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestClosedRangeKeepsLingeringTicks: a tick acknowledged (202) while the
// persister lingers (--persist-linger 3s) is not hidden by the ticks
// route's closed-range cache. The range is asked for once it ended more
// than the old fixed ClosedGrace (2 s) ago, while the tick still waits in
// the persister: with that grace the range was cached as closed for
// ClosedTTL (10 s) without the tick; with the grace derived from the
// persister's (Late + Linger + 1 s) it is cached as live, and the tick
// shows once written (decision 0071).
func TestClosedRangeKeepsLingeringTicks(t *testing.T) {
	data := t.TempDir()
	key := createAPIKey(t, data)
	in := start(t, testConfig(t, data, "--persist-linger", "3s"))
	ts := time.Now().UnixMilli()
	if code, body := postTicks(t, in, key, fmt.Sprintf(`[{"symbol":"LNGR-USD","ts":%d,"price":10,"size":1}]`, ts)); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, body)
	}
	posted := time.Now()
	url := in.url(fmt.Sprintf("/api/v1/ticks/LNGR-USD?from=%d&to=%d", ts-1000, ts+100))
	time.Sleep(time.Until(time.UnixMilli(ts + 100).Add(2100 * time.Millisecond)))
	var page tickPageOut
	getJSON(t, url, &page)
	if time.Since(posted) < 2900*time.Millisecond && len(page.Data) != 0 {
		t.Fatalf("GET at %v after the POST: %d ticks; want none yet (the persister lingers 3 s)", time.Since(posted), len(page.Data))
	}
	// Written about 3 s after the POST; shown within the live TTL after.
	deadline := posted.Add(7 * time.Second)
	for len(page.Data) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		page = tickPageOut{}
		getJSON(t, url, &page)
	}
	if len(page.Data) != 1 || page.Data[0].TS != ts {
		t.Fatalf("GET %v after the POST: %+v; want the tick at %d (a closed-range cache entry hides it)", time.Since(posted).Round(time.Millisecond), page.Data, ts)
	}
}
