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

// Limits and defaults of an alert's fields.
const (
	// DefaultHysteresis is the re-arm band when none is given: 0.5 % of
	// the threshold, or 0.5 percentage points.
	DefaultHysteresis = 0.5
	// DefaultCooldownS is the cooldown when none is given: 5 minutes.
	DefaultCooldownS = 300
	// MaxHysteresis bounds the band (percent or percentage points).
	MaxHysteresis = 50
	// MaxCooldownS bounds the cooldown: 7 days.
	MaxCooldownS = 7 * 24 * 3600

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
	// Hysteresis is the re-arm band: in percent of |Threshold| for price
	// conditions, in percentage points for change_pct ones.
	Hysteresis float64 `json:"hysteresis"`
	// CooldownS is how long after a firing (tick time) the alert stays
	// disarmed at least, in seconds.
	CooldownS int64 `json:"cooldown_s"`
	// Armed is true while the alert waits for a crossing; a firing disarms
	// it, and it re-arms once the value is back beyond the hysteresis band
	// and the cooldown has passed (Step).
	Armed bool `json:"armed"`
	// LastFiredTS is the tick time of the last firing (ms since epoch,
	// UTC), 0 if none: where the cooldown starts.
	LastFiredTS int64     `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
	// CreatedSeq is the stream sequence of the log's newest message when
	// the alert was created, read before CreatedAt was stamped: every
	// message at or below it was in the log before the alert existed, so
	// the evaluator evaluates the alert only on later messages, after a
	// restart too (decision 0065). An edit of its definition moves it to
	// the log's head at the edit (CreatedAt stays): the edited alert is
	// evaluated as a new one, never on a message from before the edit
	// (decision 0079); a pause or resume keeps it. 0: unknown (an alert
	// created before migration 00010, or by a caller without the log),
	// evaluated as before: on every message after the position the
	// evaluator starts from.
	CreatedSeq uint64 `json:"-"`
	// Revision is the revision of the alert's definition: 0 at its
	// creation, incremented by every edit of a definition field (not by a
	// pause or resume alone). The evaluator carries the revision it
	// evaluated with on every firing and armed change it commits, and the
	// store applies them only while the alert still has it: once an edit
	// is committed, nothing the old definition evaluated is recorded
	// (decision 0081).
	Revision int64 `json:"-"`
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
	// Revision is the alert's Revision the firing was evaluated with:
	// Store.CommitAlerts records the firing only while the alert still has
	// it (decision 0081). Not stored with the event; 0 when read back.
	Revision int64 `json:"-" db:"-"`
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
	if math.IsNaN(a.Hysteresis) || a.Hysteresis < 0 || a.Hysteresis > MaxHysteresis {
		return market.Invalid("hysteresis", "must be between 0 and %d", MaxHysteresis)
	}
	if a.CooldownS < 0 || a.CooldownS > MaxCooldownS {
		return market.Invalid("cooldown_s", "must be between 0 and %d seconds", MaxCooldownS)
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

// Band is the hysteresis band of a in the unit of its value: Hysteresis
// percent of |Threshold| for price conditions, Hysteresis percentage
// points for change_pct ones (a relative band would vanish for thresholds
// near 0%).
func (a *Alert) Band() float64 {
	if a.Condition.pct() {
		return a.Hysteresis
	}
	return math.Abs(a.Threshold) * a.Hysteresis / 100
}

// Step is the crossing rule: it applies value, seen in a tick of time ts
// (ms since epoch, UTC), to a and reports whether a fires now. It updates
// a.Armed and, on a firing, a.LastFiredTS.
//
// An upward condition (above, change_pct_above) fires when armed and
// value >= threshold; a downward one (below, change_pct_below) when armed
// and value <= threshold. A firing disarms the alert. It re-arms on a tick
// where both hold: the value is back beyond the band (value < threshold -
// band, or > threshold + band) and the cooldown has passed since the
// firing (ts >= LastFiredTS + CooldownS s). So an alert fires at most once
// per cooldown, and a price jittering around the threshold fires it once.
// A new alert is armed: if the condition already holds at the first tick
// after its creation, it fires then.
func (a *Alert) Step(value float64, ts int64) (fire bool) {
	up := a.Condition.upward()
	if a.Armed {
		if (up && value >= a.Threshold) || (!up && value <= a.Threshold) {
			a.Armed, a.LastFiredTS = false, ts
			return true
		}
		return false
	}
	if ts < a.LastFiredTS+a.CooldownS*1000 {
		return false
	}
	b := a.Band()
	if (up && value < a.Threshold-b) || (!up && value > a.Threshold+b) {
		a.Armed = true
	}
	return false
}

// NewWebhookSecret returns a fresh random webhook signing secret:
// "whsec_" and 32 random bytes in unpadded base64url.
func NewWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b[:])
}
