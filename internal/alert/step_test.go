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
		fire  bool
		armed bool
	}
	tests := []struct {
		name      string
		cond      Condition
		threshold float64
		steps     []step
	}{
		{"above fires once per crossing, re-arms past the band", Above, 100, []step{
			{99, false, true}, {100, true, false}, {101, false, false},
			{99.95, false, false}, // inside the 0.1% band (99.9): still disarmed
			{101, false, false}, {99.89, false, true}, {100.5, true, false},
		}},
		{"above fires at once when already true", Above, 100, []step{{150, true, false}, {150, false, false}}},
		{"below", Below, 50, []step{
			{51, false, true}, {50, true, false}, {49, false, false}, {50.04, false, false}, {50.06, false, true}, {49, true, false},
		}},
		{"change_pct_above uses 0.1 points", ChangePctAbove, 5, []step{
			{4.95, false, true}, {5, true, false}, {4.95, false, false}, {4.89, false, true}, {6, true, false},
		}},
		{"change_pct_below negative", ChangePctBelow, -3, []step{
			{-2, false, true}, {-3.5, true, false}, {-2.95, false, false}, {-2.85, false, true}, {-3, true, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			armed := true
			for i, s := range tc.steps {
				fire, a := Step(tc.cond, tc.threshold, armed, s.value)
				if fire != s.fire || a != s.armed {
					t.Fatalf("step %d: Step(%s, %g, %v, %g) = %v, %v; want %v, %v", i, tc.cond, tc.threshold, armed, s.value, fire, a, s.fire, s.armed)
				}
				armed = a
			}
		})
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
