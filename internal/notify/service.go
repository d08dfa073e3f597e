package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// Store is what Service reads; the SQL stores implement it.
type Store interface {
	AlertEvent(ctx context.Context, id int64) (alert.Event, error)
	UserByID(ctx context.Context, id int64) (auth.User, error)
	// WebhookSecret returns the user's secret, storing candidate first if
	// the user has none.
	WebhookSecret(ctx context.Context, userID int64, candidate string) (string, error)
}

// Service sends the notifications of stored alert events; it implements
// jobs.Notifier.
type Service struct {
	store     Store
	mail      *Mailer
	hooks     *Webhooks
	publicURL string
}

// NewService returns a Service sending through mail and hooks; alert mails
// link to the symbol's page under publicURL (the dashboard's base URL;
// "" leaves the link out).
func NewService(store Store, mail *Mailer, hooks *Webhooks, publicURL string) *Service {
	return &Service{store: store, mail: mail, hooks: hooks, publicURL: strings.TrimRight(publicURL, "/")}
}

// WebhookPayload is the JSON body of an alert webhook.
type WebhookPayload struct {
	Type  string      `json:"type"` // "alert"
	Event alert.Event `json:"event"`
}

func (s *Service) event(ctx context.Context, id int64) (alert.Event, error) {
	ev, err := s.store.AlertEvent(ctx, id)
	if errors.Is(err, market.ErrNotFound) {
		return ev, &permanentError{err} // the user (and their events) is gone
	}
	return ev, err
}

// EmailAlert e-mails the owner of event id — only to a verified address
// (decision 0030): to an unverified one it sends nothing and succeeds, so
// nobody can have alerts mailed to someone else's address.
func (s *Service) EmailAlert(ctx context.Context, id int64) error {
	ev, err := s.event(ctx, id)
	if err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, ev.UserID)
	if errors.Is(err, market.ErrNotFound) {
		return &permanentError{err}
	} else if err != nil {
		return err
	}
	if u.EmailVerifiedAt == nil {
		return nil
	}
	subject, body := Message(ev, s.publicURL)
	return s.mail.Send(ctx, u.Email, subject, body)
}

// WebhookAlert POSTs event id to its webhook URL, signed with the owner's
// webhook secret. Headers: X-Findash-Signature, X-Findash-Event: alert,
// X-Findash-Delivery: the event id (the same on every retry, for receivers
// to drop duplicates).
func (s *Service) WebhookAlert(ctx context.Context, id int64) error {
	ev, err := s.event(ctx, id)
	if err != nil {
		return err
	}
	if ev.WebhookURL == "" {
		return nil
	}
	secret, err := s.store.WebhookSecret(ctx, ev.UserID, alert.NewWebhookSecret())
	if errors.Is(err, market.ErrNotFound) {
		return &permanentError{err}
	} else if err != nil {
		return err
	}
	body, err := json.Marshal(WebhookPayload{Type: "alert", Event: ev})
	if err != nil {
		return permanentf("encode webhook: %w", err)
	}
	h := http.Header{"X-Findash-Event": {"alert"}, "X-Findash-Delivery": {strconv.FormatInt(ev.ID, 10)}}
	return s.hooks.Deliver(ctx, ev.WebhookURL, secret, body, h)
}

// Message renders an alert e-mail's subject and plain-text body; with a
// publicURL, the body links to the symbol's page (publicURL/s/SYMBOL).
func Message(ev alert.Event, publicURL string) (subject, body string) {
	what := fmt.Sprintf("%s %s %g", ev.Symbol, ev.Condition, ev.Threshold)
	subject = "findash alert: " + what
	unit := ""
	if ev.Condition == alert.ChangePctAbove || ev.Condition == alert.ChangePctBelow {
		unit = "% (24h change)"
	}
	body = fmt.Sprintf("Your alert %d fired: %s.\n\nValue: %g%s\nPrice: %g\nAt: %s\nEvent: %d\n",
		ev.AlertID, what, ev.Value, unit, ev.Price, time.UnixMilli(ev.TS).UTC().Format(time.RFC3339Nano), ev.ID)
	if publicURL != "" {
		// As the dashboard links it: EUR/USD is /s/EUR%2FUSD.
		body += "\nSee " + ev.Symbol + ": " + publicURL + "/s/" + url.PathEscape(ev.Symbol) + "\n"
	}
	return subject, body
}
