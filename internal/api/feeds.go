package api

import (
	"net/http"
)

// FeedStatus is one exchange feed's health as GET /api/v1/feeds shows it
// (docs/reference/http.md#feed-status). cmd/findash fills it from the same
// status the feed's /readyz check reads, so the two never disagree.
type FeedStatus struct {
	Venue string `json:"venue"`
	// State is "connecting" (before the first connection), "connected",
	// "reconnecting", "degraded" (silent past the feed's stale threshold)
	// or "stopped".
	State   string   `json:"state"`
	Symbols []string `json:"symbols"`
	// LastMessageTS is the Unix ms of the last message or ping from the
	// venue; nil before the first.
	LastMessageTS *int64 `json:"last_message_ts"`
	// LastMessageAgeMS is the time since the last message (or since the
	// feed started, when none arrived yet), in ms.
	LastMessageAgeMS int64 `json:"last_message_age_ms"`
	// LagMS is the last live trade's arrival at findash minus its trade
	// time at the venue, in ms; nil before the first live trade.
	LagMS      *float64 `json:"lag_ms"`
	Reconnects int64    `json:"reconnects"`
	// GapsBackfilled counts the gaps filled through the venue's REST
	// history; BackfilledTrades the trades fetched for them; LostTrades
	// those of gaps past the backfill limit, left out.
	GapsBackfilled   int64  `json:"gaps_backfilled"`
	BackfilledTrades int64  `json:"backfilled_trades"`
	LostTrades       int64  `json:"lost_trades"`
	Messages         int64  `json:"messages"`
	Trades           int64  `json:"trades"`
	LastError        string `json:"last_error,omitempty"`
}

// feeds: GET /api/v1/feeds — the exchange feeds this instance runs, in the
// order configured; an empty list when it runs none (the simulator, or
// FINDASH_FEED=none). Never cached: it is a health view.
func (a *API) feeds(w http.ResponseWriter, r *http.Request) {
	out := []FeedStatus{}
	if a.d.Feeds != nil {
		out = append(out, a.d.Feeds()...)
	}
	a.writeJSON(w, r, http.StatusOK, map[string]any{"data": out})
}
