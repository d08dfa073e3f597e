package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
)

// postTicks: POST /api/v1/ticks — ingest a JSON array or NDJSON of ticks
// with an API key. The batch is parsed and validated whole before anything
// is published: any bad tick rejects it with 400 invalid_tick whose
// error.lines name every bad line (line, field, reason, message), and
// nothing of it is published. 202 {"accepted":n} is sent only after the
// event log has every tick; a log that is down or slow is 503 with
// Retry-After.
func (a *API) postTicks(w http.ResponseWriter, r *http.Request) {
	p, err := a.authenticate(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if p.APIKeyID == 0 {
		a.writeError(w, r, errForbidden("ingest needs an API key, not a session"))
		return
	}
	if !a.limit(w, r, "ingest", strconv.FormatInt(p.APIKeyID, 10), a.cfg.IngestLimit) {
		return
	}
	if r.ContentLength > a.cfg.MaxBodyBytes {
		a.writeError(w, r, errPayloadTooLarge(a.cfg.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.writeError(w, r, errPayloadTooLarge(a.cfg.MaxBodyBytes))
			return
		}
		if isTimeout(err) {
			a.writeError(w, r, errRequestTimeout(a.cfg.BodyTimeout))
			return
		}
		a.writeError(w, r, &httpError{status: http.StatusBadRequest, code: "bad_body", message: "could not read the request body"})
		return
	}
	ticks, err := a.d.Parse(body)
	if err == nil && len(ticks) == 0 {
		err = market.Invalid("", "the body holds no ticks")
	}
	if err != nil {
		if errors.Is(err, market.ErrInvalid) {
			err = &codedError{code: "invalid_tick", err: err}
		}
		a.writeError(w, r, err)
		return
	}
	if err := a.refuseFedSymbols(ticks); err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.IngestTimeout)
	defer cancel()
	if err := a.admitSymbols(ctx, p, ticks); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.d.Publisher.Publish(ctx, ticks); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusAccepted, struct {
		Accepted int `json:"accepted"`
	}{len(ticks)})
}

// authenticate resolves the request's bearer token, under the limit of
// failed lookups (checkCredential). A missing or malformed Authorization
// header is auth.ErrUnauthenticated.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return auth.Principal{}, auth.ErrUnauthenticated
	}
	return a.checkCredential(w, r, token)
}
