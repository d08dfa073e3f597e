package alert

import (
	"errors"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/market"
)

func TestStep(t *testing.T) {
	type step struct {
		value float64
		ts    int64 // ms
		fire  bool
		armed bool
	}
	tests := []struct {
		name       string
		cond       Condition
		threshold  float64
		hysteresis float64
		cooldownS  int64
		steps      []step
	}{
		{"above fires once per crossing, re-arms past the band", Above, 100, 0.1, 0, []step{
			{99, 1, false, true}, {100, 2, true, false}, {101, 3, false, false},
			{99.95, 4, false, false}, // inside the 0.1% band (99.9): still disarmed
			{101, 5, false, false}, {99.89, 6, false, true}, {100.5, 7, true, false},
		}},
		{"above fires at once when already true", Above, 100, 0.1, 0, []step{{150, 1, true, false}, {150, 2, false, false}}},
		{"below", Below, 50, 0.1, 0, []step{
			{51, 1, false, true}, {50, 2, true, false}, {49, 3, false, false}, {50.04, 4, false, false}, {50.06, 5, false, true}, {49, 6, true, false},
		}},
		{"change_pct_above uses points", ChangePctAbove, 5, 0.1, 0, []step{
			{4.95, 1, false, true}, {5, 2, true, false}, {4.95, 3, false, false}, {4.89, 4, false, true}, {6, 5, true, false},
		}},
		{"change_pct_below negative", ChangePctBelow, -3, 0.1, 0, []step{
			{-2, 1, false, true}, {-3.5, 2, true, false}, {-2.95, 3, false, false}, {-2.85, 4, false, true}, {-3, 5, true, false},
		}},
		{"cooldown holds the re-arm although the value is back", Above, 100, 0.5, 60, []step{
			{100, 1_000, true, false},
			{99, 30_000, false, false},   // beyond the band (99.5) but 29 s after the firing
			{101, 40_000, false, false},  // crossing inside the cooldown: no firing
			{99, 61_000, false, true},    // 60 s passed and back beyond the band: re-armed
			{100.1, 62_000, true, false}, // the next crossing fires
		}},
		{"cooldown passed but still inside the band", Below, 50, 1, 10, []step{
			{50, 0, true, false}, {50.4, 20_000, false, false}, {50.51, 21_000, false, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Alert{Condition: tc.cond, Threshold: tc.threshold, Hysteresis: tc.hysteresis, CooldownS: tc.cooldownS, Armed: true}
			for i, s := range tc.steps {
				fire := a.Step(s.value, s.ts)
				if fire != s.fire || a.Armed != s.armed {
					t.Fatalf("step %d: Step(%g, %d) = %v, armed %v; want %v, %v", i, s.value, s.ts, fire, a.Armed, s.fire, s.armed)
				}
			}
		})
	}
}

// TestStepJitter: a price jittering around the threshold for 26 s (a tick
// every 100 ms, ±0.15 %) fires an alert with the default rule once — the
// old rule (0.1 % band, no cooldown) fired it again and again.
func TestStepJitter(t *testing.T) {
	a := Alert{Condition: Above, Threshold: 100, Hysteresis: DefaultHysteresis, CooldownS: DefaultCooldownS, Armed: true}
	old := Alert{Condition: Above, Threshold: 100, Hysteresis: 0.1, Armed: true}
	fired, oldFired := 0, 0
	for i := range 260 {
		v := 100 + 0.15*float64(i%3-1) // 99.85, 100, 100.15, …
		ts := int64(i * 100)
		if a.Step(v, ts) {
			fired++
		}
		if old.Step(v, ts) {
			oldFired++
		}
	}
	if fired != 1 {
		t.Errorf("default rule fired %d times in 26 s, want 1", fired)
	}
	if oldFired < 6 {
		t.Errorf("the old rule fired %d times: the test no longer shows the problem", oldFired)
	}
}

func TestValidate(t *testing.T) {
	ok := func() Alert {
		return Alert{Symbol: "BTC-USD", Condition: Above, Threshold: 1, Notify: []string{"webhook", "email", "email"}, WebhookURL: "https://example.com/h"}
	}
	a := ok()
	if err := Validate(&a); err != nil {
		t.Fatalf("Validate(good) error: %v", err)
	}
	if diff := gocmp.Diff([]string{"email", "webhook"}, a.Notify); diff != "" {
		t.Errorf("Notify normalised (-want +got):\n%s", diff)
	}
	tests := []struct {
		name  string
		mod   func(*Alert)
		field string
	}{
		{"bad symbol", func(a *Alert) { a.Symbol = "btc usd" }, "symbol"},
		{"bad condition", func(a *Alert) { a.Condition = "crosses" }, "condition"},
		{"zero price", func(a *Alert) { a.Threshold = 0 }, "threshold"},
		{"NaN", func(a *Alert) { a.Threshold = nan() }, "threshold"},
		{"huge pct", func(a *Alert) { a.Condition, a.Threshold = ChangePctAbove, 2e6 }, "threshold"},
		{"unknown channel", func(a *Alert) { a.Notify = []string{"sms"} }, "notify"},
		{"webhook without url", func(a *Alert) { a.WebhookURL = "" }, "webhook_url"},
		{"url without webhook", func(a *Alert) { a.Notify = []string{"email"} }, "webhook_url"},
		{"ftp url", func(a *Alert) { a.WebhookURL = "ftp://example.com/x" }, "webhook_url"},
		{"relative url", func(a *Alert) { a.WebhookURL = "/hook" }, "webhook_url"},
		{"user info", func(a *Alert) { a.WebhookURL = "https://u:p@example.com/" }, "webhook_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ok()
			tc.mod(&a)
			err := Validate(&a)
			var ve *market.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("Validate() error = %v, want a validation error on %s", err, tc.field)
			}
		})
	}
	neg := Alert{Symbol: "X", Condition: ChangePctBelow, Threshold: -5}
	if err := Validate(&neg); err != nil || neg.Notify == nil {
		t.Errorf("Validate(negative pct, no notify) = %v, Notify %v; want nil, []", err, neg.Notify)
	}
}

func nan() float64 { z := 0.0; return z / z }
