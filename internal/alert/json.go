package alert

import (
	"encoding/json"
	"time"
)

// MaxPerUser is how many alerts one user may have.
const MaxPerUser = 100

// MarshalJSON writes the alert with created_at in Unix ms, UTC, and
// last_fired_at: the tick time of its last firing (Unix ms, UTC), or null.
func (a Alert) MarshalJSON() ([]byte, error) {
	type plain Alert
	var fired *int64
	if a.LastFiredTS > 0 {
		fired = &a.LastFiredTS
	}
	return json.Marshal(struct {
		plain
		CreatedAt   int64  `json:"created_at"`
		LastFiredAt *int64 `json:"last_fired_at"`
	}{plain(a), a.CreatedAt.UnixMilli(), fired})
}

// MarshalJSON writes the event with fired_at in Unix ms, UTC: the one shape
// of an event in the REST API, the WebSocket `alerts` channel and webhooks.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		FiredAt int64 `json:"fired_at"`
	}{plain(e), e.FiredAt.UnixMilli()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var v struct {
		plain
		FiredAt int64 `json:"fired_at"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Event(v.plain)
	e.FiredAt = time.UnixMilli(v.FiredAt).UTC()
	return nil
}
