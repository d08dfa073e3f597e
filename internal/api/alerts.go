package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// AlertStore keeps users' alerts, their events and webhook secrets (the
// SQL stores). Every method acting on an id takes the owner's user id and
// treats another user's id as market.ErrNotFound.
type AlertStore interface {
	CreateAlert(ctx context.Context, a alert.Alert, maxPerUser int) (alert.Alert, error)
	Alerts(ctx context.Context, userID int64) ([]alert.Alert, error)
	DeleteAlert(ctx context.Context, userID, id int64) error
	SetAlertPaused(ctx context.Context, userID, id int64, paused bool) (alert.Alert, error)
	// UpdateAlert replaces a's definition (not its symbol) and position
	// (CreatedSeq), increments its revision and re-arms it.
	UpdateAlert(ctx context.Context, a alert.Alert) (alert.Alert, error)
	// AlertEvents lists events newest first, with ids below before (0: from the newest).
	AlertEvents(ctx context.Context, userID, before int64, limit int) ([]alert.Event, error)
	// WebhookSecret returns the user's secret, storing candidate first if none.
	WebhookSecret(ctx context.Context, userID int64, candidate string) (string, error)
}

// LogHead reads the event log's newest stream sequence; *bus.Bus
// implements it. An alert is created and edited with it
// (alert.Alert.CreatedSeq), so the evaluator never evaluates the alert on
// a message that was in the log before the alert existed (decision 0065)
// or before its last edit (decision 0079), even after a restart.
type LogHead interface {
	LastSeq(ctx context.Context) (uint64, error)
}

func errNoAlerts() error {
	return &httpError{status: http.StatusServiceUnavailable, code: "unavailable", message: "alerts are not configured",
		header: http.Header{"Retry-After": {"60"}}}
}

// alertIn is the body of POST /api/v1/alerts.
type alertIn struct {
	Symbol     string   `json:"symbol"`
	Condition  string   `json:"condition"`
	Threshold  *float64 `json:"threshold"`
	Notify     []string `json:"notify"`
	WebhookURL string   `json:"webhook_url"`
	Hysteresis *float64 `json:"hysteresis"` // default alert.DefaultHysteresis
	CooldownS  *int64   `json:"cooldown_s"` // default alert.DefaultCooldownS
}

// listAlerts: GET /api/v1/alerts → {"data":[alert…]}, oldest first; at most
// alert.MaxPerUser, so never paginated.
func (a *API) listAlerts(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Alerts == nil {
		a.writeError(w, r, errNoAlerts())
		return
	}
	as, err := a.d.Alerts.Alerts(r.Context(), p.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, list[alert.Alert]{Data: as})
}

// createAlert: POST /api/v1/alerts → 201 alert. 400 invalid on a bad field,
// 409 too_many_alerts beyond alert.MaxPerUser.
func (a *API) createAlert(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Alerts == nil {
		a.writeError(w, r, errNoAlerts())
		return
	}
	var in alertIn
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if in.Threshold == nil {
		a.writeError(w, r, clean(market.Invalid("threshold", "is required"), "alert"))
		return
	}
	// The log's head is read before the creation time is stamped: every
	// message at or below it was in the log before the alert existed.
	head, err := a.logHead(r.Context(), 0)
	if err != nil {
		a.writeError(w, r, fmt.Errorf("create alert: %w", err))
		return
	}
	al := alert.Alert{UserID: p.UserID, Symbol: in.Symbol, Condition: alert.Condition(in.Condition), Threshold: *in.Threshold,
		Notify: in.Notify, WebhookURL: in.WebhookURL, CreatedAt: a.now(), CreatedSeq: head,
		Hysteresis: alert.DefaultHysteresis, CooldownS: alert.DefaultCooldownS}
	if in.Hysteresis != nil {
		al.Hysteresis = *in.Hysteresis
	}
	if in.CooldownS != nil {
		al.CooldownS = *in.CooldownS
	}
	if err := alert.Validate(&al); err != nil {
		a.writeError(w, r, clean(err, "alert"))
		return
	}
	al, err = a.d.Alerts.CreateAlert(r.Context(), al, alert.MaxPerUser)
	if err != nil {
		if errors.Is(err, market.ErrConflict) {
			err = &httpError{status: http.StatusConflict, code: "too_many_alerts",
				message: "at most " + strconv.Itoa(alert.MaxPerUser) + " alerts per user; delete one first"}
		}
		a.writeError(w, r, err)
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusCreated, al)
}

// deleteAlert: DELETE /api/v1/alerts/{id} → 204; another user's is 404.
func (a *API) deleteAlert(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Alerts == nil {
		a.writeError(w, r, errNoAlerts())
		return
	}
	id, ok := pathID(r)
	if !ok {
		a.writeError(w, r, errNotFound("alert "+truncID(r)))
		return
	}
	if err := a.d.Alerts.DeleteAlert(r.Context(), p.UserID, id); err != nil {
		a.writeError(w, r, clean(err, "alert "+strconv.FormatInt(id, 10)))
		return
	}
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(http.StatusNoContent)
}

// patchAlert: PATCH /api/v1/alerts/{id} → 200 alert. {"paused":bool}
// alone pauses or resumes, keeping the armed state and the alert's
// position; any other field (condition, threshold, notify, webhook_url,
// hysteresis, cooldown_s, paused) edits the alert — the fields given
// replace the stored ones, the result is validated as a new alert's, and
// the alert re-arms and starts, as a new one, after the log's head at the
// edit (decision 0079).
func (a *API) patchAlert(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Alerts == nil {
		a.writeError(w, r, errNoAlerts())
		return
	}
	id, ok := pathID(r)
	if !ok {
		a.writeError(w, r, errNotFound("alert "+truncID(r)))
		return
	}
	var in struct {
		Paused     *bool     `json:"paused"`
		Condition  *string   `json:"condition"`
		Threshold  *float64  `json:"threshold"`
		Notify     *[]string `json:"notify"`
		WebhookURL *string   `json:"webhook_url"`
		Hysteresis *float64  `json:"hysteresis"`
		CooldownS  *int64    `json:"cooldown_s"`
	}
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	what := "alert " + strconv.FormatInt(id, 10)
	edit := in.Condition != nil || in.Threshold != nil || in.Notify != nil || in.WebhookURL != nil || in.Hysteresis != nil || in.CooldownS != nil
	if !edit {
		if in.Paused == nil {
			a.writeError(w, r, clean(market.Invalid("paused", "is required (true or false) when no other field is given"), "alert"))
			return
		}
		al, err := a.d.Alerts.SetAlertPaused(r.Context(), p.UserID, id, *in.Paused)
		if err != nil {
			a.writeError(w, r, clean(err, what))
			return
		}
		w.Header()["Cache-Control"] = noStore
		a.writeJSON(w, r, http.StatusOK, al)
		return
	}
	al, err := a.ownAlert(r.Context(), p.UserID, id)
	if err != nil {
		a.writeError(w, r, clean(err, what))
		return
	}
	if in.Condition != nil {
		al.Condition = alert.Condition(*in.Condition)
	}
	if in.Threshold != nil {
		al.Threshold = *in.Threshold
	}
	if in.Notify != nil {
		al.Notify = *in.Notify
	}
	if in.WebhookURL != nil {
		al.WebhookURL = *in.WebhookURL
	}
	if in.Hysteresis != nil {
		al.Hysteresis = *in.Hysteresis
	}
	if in.CooldownS != nil {
		al.CooldownS = *in.CooldownS
	}
	if in.Paused != nil {
		al.Paused = *in.Paused
	}
	if err := alert.Validate(&al); err != nil {
		a.writeError(w, r, clean(err, "alert"))
		return
	}
	// An edit re-arms the alert, so it is a new alert from here on: it
	// takes the log's head, read before the update, as its position, and
	// is never evaluated on a message the log held before the edit. A
	// pause or resume (above) changes neither what fires nor the armed
	// state, so it keeps the position.
	if al.CreatedSeq, err = a.logHead(r.Context(), al.CreatedSeq); err != nil {
		a.writeError(w, r, fmt.Errorf("edit alert: %w", err))
		return
	}
	al, err = a.d.Alerts.UpdateAlert(r.Context(), al)
	if err != nil {
		a.writeError(w, r, clean(err, what))
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, al)
}

// logHead reads the event log's newest stream sequence, an alert's
// position; without a log (Deps.AlertLog nil) it is unknown and stays def.
func (a *API) logHead(ctx context.Context, def uint64) (uint64, error) {
	if a.d.AlertLog == nil {
		return def, nil
	}
	head, err := a.d.AlertLog.LastSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the log's position: %w", err)
	}
	return head, nil
}

// ownAlert returns alert id of userID, or market.ErrNotFound.
func (a *API) ownAlert(ctx context.Context, userID, id int64) (alert.Alert, error) {
	as, err := a.d.Alerts.Alerts(ctx, userID)
	if err != nil {
		return alert.Alert{}, err
	}
	for _, al := range as {
		if al.ID == id {
			return al, nil
		}
	}
	return alert.Alert{}, market.ErrNotFound
}

// alertEvents: GET /api/v1/alerts/events?limit=&cursor= → {"data":[event…],
// "next_cursor"}, newest first. The cursor is opaque to clients.
func (a *API) alertEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Alerts == nil {
		a.writeError(w, r, errNoAlerts())
		return
	}
	limit, before, err := parseIDPage(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evs, err := a.d.Alerts.AlertEvents(r.Context(), p.UserID, before, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := list[alert.Event]{Data: evs}
	if len(evs) == limit {
		out.NextCursor = "e" + strconv.FormatInt(evs[len(evs)-1].ID, 10)
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, out)
}

// parseIDCursor reads a cursor of the form "e<id>" (0 when empty).
func parseIDCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	if len(c) < 2 || c[0] != 'e' {
		return 0, market.Invalid("cursor", "is not a cursor this API returned")
	}
	id, err := strconv.ParseInt(c[1:], 10, 64)
	if err != nil || id <= 0 {
		return 0, market.Invalid("cursor", "is not a cursor this API returned")
	}
	return id, nil
}

// webhookSecret: GET /api/v1/webhook-secret → {"secret"}: the key of the
// HMAC in X-Findash-Signature of the user's webhooks, created on first use.
func (a *API) webhookSecret(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Alerts == nil {
		a.writeError(w, r, errNoAlerts())
		return
	}
	s, err := a.d.Alerts.WebhookSecret(r.Context(), p.UserID, alert.NewWebhookSecret())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, struct {
		Secret string `json:"secret"`
	}{s})
}

// parseIDPage reads limit and cursor of a list paged newest first by id.
func parseIDPage(q url.Values) (limit int, before int64, err error) {
	if limit, err = parseLimit(q, market.DefaultLimit); err != nil {
		return 0, 0, err
	}
	before, err = parseIDCursor(q.Get("cursor"))
	return limit, before, err
}
