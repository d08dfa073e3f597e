package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
)

// httpError is an error the API itself decides the status and code of
// (404, 405, 413, 429, …).
type httpError struct {
	status  int
	code    string
	message string
	header  http.Header // extra response headers, e.g. Allow or Retry-After
}

func (e *httpError) Error() string { return e.message }

// codedError keeps the status writeError gives err but names it with code,
// e.g. "invalid_tick" instead of "invalid".
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// errorBody is the one error shape of docs/reference/http.md.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		// Lines names every bad line of a rejected ingest batch.
		Lines []lineError `json:"lines,omitempty"`
	} `json:"error"`
}

// lineError is one bad line of an ingest batch (an ingest.LineError).
type lineError struct {
	Line    int    `json:"line"`   // 1-based NDJSON line or array element; 0 = the body
	Field   string `json:"field"`  // "price", or "json" for a line that is not a tick object
	Reason  string `json:"reason"` // stable code, one of market.Reasons
	Message string `json:"message"`
}

// writeError is the one place an error becomes an HTTP response. See the
// package doc for the mapping.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		status int
		code   string
		msg    string
		he     *httpError
	)
	switch {
	case errors.As(err, &he):
		status, code, msg = he.status, he.code, he.message
		for k, v := range he.header {
			w.Header()[k] = v
		}
	case errors.Is(err, market.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		status, code, msg = http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; retry later"
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, a.cfg.RetryAfter.Seconds()))))
		a.logFor(w).LogAttrs(r.Context(), slog.LevelWarn, "dependency unavailable", slog.Any("err", err))
	case errors.Is(err, auth.ErrUnauthenticated):
		status, code, msg = http.StatusUnauthorized, "unauthenticated", "missing or invalid credentials"
		w.Header().Set("WWW-Authenticate", `Bearer realm="findash"`)
	case errors.Is(err, market.ErrInvalid):
		status, code, msg = http.StatusBadRequest, "invalid", err.Error()
	case errors.Is(err, market.ErrNotFound):
		status, code, msg = http.StatusNotFound, "not_found", err.Error()
	case errors.Is(err, market.ErrConflict):
		status, code, msg = http.StatusConflict, "conflict", err.Error()
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		status, code, msg = 499, "canceled", "request canceled"
	default:
		status, code, msg = http.StatusInternalServerError, "internal", "internal error"
		a.logFor(w).LogAttrs(r.Context(), slog.LevelError, "request failed", slog.Any("err", err))
	}
	var ce *codedError
	if errors.As(err, &ce) && he == nil {
		code = ce.code
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	var be *ingest.BatchError
	if status == http.StatusBadRequest && errors.As(err, &be) {
		body.Error.Lines = make([]lineError, len(be.Lines))
		for i, l := range be.Lines {
			body.Error.Lines[i] = lineError{Line: l.Line, Field: l.Field(), Reason: l.Reason(), Message: l.Message()}
		}
	}
	b, _ := json.Marshal(body) // cannot fail: two strings
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h.Del("Etag")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Errors the API raises itself.
func errNotFound(what string) error {
	return &httpError{status: http.StatusNotFound, code: "not_found", message: what + " not found"}
}

func errPayloadTooLarge(limit int64) error {
	return &httpError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
		message: "request body exceeds " + strconv.FormatInt(limit, 10) + " bytes"}
}

func errRateLimited(retryAfterSec int) error {
	return &httpError{status: http.StatusTooManyRequests, code: "rate_limited", message: "too many requests; retry later",
		header: http.Header{"Retry-After": {strconv.Itoa(retryAfterSec)}}}
}

func errForbidden(msg string) error {
	return &httpError{status: http.StatusForbidden, code: "forbidden", message: msg}
}
