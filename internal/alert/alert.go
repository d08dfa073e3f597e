package alert

import (
	"crypto/rand"
	"encoding/base64"
	"math"
	"net/url"
	"slices"
	"time"

	"github.com/findash/findash/internal/market"
)

// Condition is what an alert watches for.
type Condition string

// The four conditions of docs/reference/http.md. Price conditions compare the last
// trade price with the threshold; change_pct conditions compare the 24 h
// change in percent (market.Quote.ChangePct24h) with it.
const (
	Above          Condition = "above"
	Below          Condition = "below"
	ChangePctAbove Condition = "change_pct_above"
	ChangePctBelow Condition = "change_pct_below"
)

// Valid reports whether c is one of the four conditions.
func (c Condition) Valid() bool {
	switch c {
	case Above, Below, ChangePctAbove, ChangePctBelow:
		return true
	}
	return false
}

// upward reports whether c fires when the value rises to the threshold.
func (c Condition) upward() bool { return c == Above || c == ChangePctAbove }

// pct reports whether c watches the 24 h change rather than the price.
func (c Condition) pct() bool { return c == ChangePctAbove || c == ChangePctBelow }

// Notification channels.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Limits on an alert's fields.
const (
	MaxWebhookURLLen = 2048
	// MaxPctThreshold bounds a change_pct threshold (percent, either sign).
	MaxPctThreshold = 1e6
)

// Alert is a user's standing order to be told when a symbol crosses a
// threshold.
type Alert struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"-"`
	Symbol     string    `json:"symbol"`
	Condition  Condition `json:"condition"`
	Threshold  float64   `json:"threshold"`
	Notify     []string  `json:"notify"` // subset of email, webhook; may be empty (WebSocket and the event list only)
	WebhookURL string    `json:"webhook_url,omitempty"`
	Paused     bool      `json:"paused"`
	// Armed is true while the alert waits for a crossing; a firing disarms
	// it and the value moving back beyond the hysteresis band re-arms it.
	Armed     bool      `json:"armed"`
	CreatedAt time.Time `json:"created_at"`
}

// Event is one firing of an alert: what crossed, when, and where it is to be
// sent. The fields of the alert are copied, so the event outlives changes
// to (or the deletion of) its alert.
type Event struct {
	ID         int64     `json:"id"`
	AlertID    int64     `json:"alert_id"`
	UserID     int64     `json:"-"`
	Symbol     string    `json:"symbol"`
	Condition  Condition `json:"condition"`
	Threshold  float64   `json:"threshold"`
	Value      float64   `json:"value"` // the price, or the 24 h change in percent, that crossed
	Price      float64   `json:"price"` // the price of the crossing tick
	TS         int64     `json:"ts"`    // ms since epoch, UTC, of the crossing tick
	Seq        uint64    `json:"seq"`   // seq of the crossing tick: with AlertID, the firing's unique key
	Notify     []string  `json:"notify"`
	WebhookURL string    `json:"webhook_url,omitempty"`
	FiredAt    time.Time `json:"fired_at"`
}

// Validate checks a to-be-created alert's fields (Symbol, Condition,
// Threshold, Notify, WebhookURL) and normalises Notify (sorted, no
// duplicates). A failure is a *market.ValidationError naming the field.
func Validate(a *Alert) error {
	if err := market.CheckSymbol("symbol", a.Symbol); err != nil {
		return err
	}
	if !a.Condition.Valid() {
		return market.Invalid("condition", "must be one of above, below, change_pct_above, change_pct_below")
	}
	if math.IsNaN(a.Threshold) || math.IsInf(a.Threshold, 0) {
		return market.Invalid("threshold", "must be a finite number")
	}
	if a.Condition.pct() {
		if math.Abs(a.Threshold) > MaxPctThreshold {
			return market.Invalid("threshold", "a change_pct threshold must be between -%g and %g percent", MaxPctThreshold, MaxPctThreshold)
		}
	} else if !(a.Threshold > 0) {
		return market.Invalid("threshold", "a price threshold must be > 0")
	}
	n := slices.Clone(a.Notify)
	slices.Sort(n)
	n = slices.Compact(n)
	for _, c := range n {
		if c != ChannelEmail && c != ChannelWebhook {
			return market.Invalid("notify", "%q is not a channel (email, webhook)", c)
		}
	}
	if n == nil {
		n = []string{}
	}
	a.Notify = n
	wantHook := slices.Contains(n, ChannelWebhook)
	switch {
	case wantHook && a.WebhookURL == "":
		return market.Invalid("webhook_url", "is required when notify includes webhook")
	case !wantHook && a.WebhookURL != "":
		return market.Invalid("webhook_url", "is only allowed when notify includes webhook")
	case wantHook:
		if err := CheckWebhookURL(a.WebhookURL); err != nil {
			return err
		}
	}
	return nil
}

// CheckWebhookURL accepts an absolute http or https URL with a host, no
// user info and no fragment, at most MaxWebhookURLLen bytes. Whether the
// host may be reached (SSRF rules) is decided when delivering, at dial time.
func CheckWebhookURL(s string) error {
	if len(s) > MaxWebhookURLLen {
		return market.Invalid("webhook_url", "is longer than %d bytes", MaxWebhookURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return market.Invalid("webhook_url", "must be an absolute http:// or https:// URL")
	}
	if u.User != nil {
		return market.Invalid("webhook_url", "must not carry user info")
	}
	if u.Fragment != "" {
		return market.Invalid("webhook_url", "must not have a fragment")
	}
	return nil
}

// Hysteresis is the band a value must move back beyond, past the threshold,
// before a fired alert re-arms: 0.1% of |threshold| for price conditions,
// 0.1 percentage points for change_pct conditions (a relative band would
// vanish for thresholds near 0%).
func Hysteresis(c Condition, threshold float64) float64 {
	if c.pct() {
		return 0.1
	}
	return math.Abs(threshold) * 0.001
}

// Step is the crossing rule. Given an alert's condition and threshold,
// whether it is armed, and a new value (price or 24 h change in percent), it
// reports whether the alert fires now and whether it is armed afterwards.
//
// An upward condition (above, change_pct_above) fires when armed and
// value >= threshold, and re-arms when value < threshold - hysteresis;
// a downward one (below, change_pct_below) fires when armed and
// value <= threshold, and re-arms when value > threshold + hysteresis.
// A new alert is armed: if the condition already holds at the first tick
// after its creation, it fires then.
func Step(c Condition, threshold float64, armed bool, value float64) (fire, armedAfter bool) {
	h := Hysteresis(c, threshold)
	if c.upward() {
		switch {
		case armed && value >= threshold:
			return true, false
		case !armed && value < threshold-h:
			return false, true
		}
		return false, armed
	}
	switch {
	case armed && value <= threshold:
		return true, false
	case !armed && value > threshold+h:
		return false, true
	}
	return false, armed
}

// NewWebhookSecret returns a fresh random webhook signing secret:
// "whsec_" and 32 random bytes in unpadded base64url.
func NewWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b[:])
}
