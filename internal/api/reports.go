package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/report"
)

// ReportService creates, lists and serves reports (*report.Service).
type ReportService interface {
	Create(ctx context.Context, r report.Report) (report.Report, error)
	Get(ctx context.Context, userID, id int64) (report.Report, error)
	List(ctx context.Context, userID, before int64, limit int) ([]report.Report, error)
	// DownloadURL signs a done report's download URL; it returns when the URL expires.
	DownloadURL(r report.Report) (string, time.Time)
	// Open checks a download URL's expires and sig and opens the file.
	Open(ctx context.Context, id int64, expires, sig string) (io.ReadCloser, report.Report, error)
}

func errNoReports() error {
	return &httpError{status: http.StatusServiceUnavailable, code: "unavailable", message: "reports are not configured",
		header: http.Header{"Retry-After": {"60"}}}
}

// errTooManyReports is 429 too_many_reports: the user already has the most
// reports queued or running (report.ErrTooMany; err says how many). A
// report takes seconds, so a retry in 10 s may find a place.
func errTooManyReports(err error) error {
	return &httpError{status: http.StatusTooManyRequests, code: "too_many_reports", message: err.Error(),
		header: http.Header{"Retry-After": {"10"}}}
}

// reportJSON is a report as the API shows it.
type reportJSON struct {
	ID          int64    `json:"id"`
	Status      string   `json:"status"`
	Symbols     []string `json:"symbols"`
	Interval    string   `json:"interval"`
	From        int64    `json:"from"`
	To          int64    `json:"to"`
	Format      string   `json:"format"`
	Error       string   `json:"error,omitempty"`
	Size        int64    `json:"size,omitempty"`
	DownloadURL string   `json:"download_url,omitempty"`
	ExpiresAt   int64    `json:"download_expires_at,omitempty"` // Unix ms, UTC
	CreatedAt   int64    `json:"created_at"`                    // Unix ms, UTC
	UpdatedAt   int64    `json:"updated_at"`                    // Unix ms, UTC
}

func (a *API) toReportJSON(r report.Report) reportJSON {
	j := reportJSON{ID: r.ID, Status: string(r.Status), Symbols: r.Symbols, Interval: r.Interval.String(), From: r.From, To: r.To,
		Format: string(r.Format), Error: r.Error, CreatedAt: r.CreatedAt.UnixMilli(), UpdatedAt: r.UpdatedAt.UnixMilli()}
	if r.Status == report.Done {
		u, exp := a.d.Reports.DownloadURL(r)
		j.DownloadURL, j.ExpiresAt, j.Size = u, exp.UnixMilli(), r.Size
	}
	return j
}

// createReport: POST /api/v1/reports {symbols, interval, from, to, format}
// → 202 {"id","status":"queued"}.
func (a *API) createReport(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Reports == nil {
		a.writeError(w, r, errNoReports())
		return
	}
	var in struct {
		Symbols  []string `json:"symbols"`
		Interval string   `json:"interval"`
		From     *int64   `json:"from"`
		To       *int64   `json:"to"`
		Format   string   `json:"format"`
	}
	if err := a.decodeBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	iv, err := market.ParseInterval(in.Interval)
	if err != nil {
		a.writeError(w, r, clean(market.Invalid("interval", "must be one of 1s 1m 5m 15m 1h 1d"), "report"))
		return
	}
	if in.From == nil || in.To == nil {
		a.writeError(w, r, clean(market.Invalid("from", "from and to are required (Unix ms)"), "report"))
		return
	}
	rep, err := a.d.Reports.Create(r.Context(), report.Report{UserID: p.UserID, Symbols: in.Symbols, Interval: iv,
		From: *in.From, To: *in.To, Format: report.Format(in.Format)})
	if errors.Is(err, report.ErrTooMany) {
		a.m.reportsRejected.Inc()
		a.writeError(w, r, errTooManyReports(err))
		return
	}
	if err != nil {
		a.writeError(w, r, clean(err, "report"))
		return
	}
	w.Header()["Cache-Control"] = noStore
	w.Header().Set("Location", "/api/v1/reports/"+strconv.FormatInt(rep.ID, 10))
	a.writeJSON(w, r, http.StatusAccepted, struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}{rep.ID, string(rep.Status)})
}

// getReport: GET /api/v1/reports/{id} → report (with download_url when done).
func (a *API) getReport(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Reports == nil {
		a.writeError(w, r, errNoReports())
		return
	}
	id, ok := pathID(r)
	if !ok {
		a.writeError(w, r, errNotFound("report "+truncID(r)))
		return
	}
	rep, err := a.d.Reports.Get(r.Context(), p.UserID, id)
	if err != nil {
		a.writeError(w, r, clean(err, "report "+strconv.FormatInt(id, 10)))
		return
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, a.toReportJSON(rep))
}

// listReports: GET /api/v1/reports?limit=&cursor= → {"data":[report…],
// "next_cursor"}, newest first.
func (a *API) listReports(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if a.d.Reports == nil {
		a.writeError(w, r, errNoReports())
		return
	}
	limit, before, err := parseIDPage(r.URL.Query())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	reps, err := a.d.Reports.List(r.Context(), p.UserID, before, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := list[reportJSON]{Data: make([]reportJSON, 0, len(reps))}
	for _, rep := range reps {
		out.Data = append(out.Data, a.toReportJSON(rep))
	}
	if len(reps) == limit {
		out.NextCursor = "e" + strconv.FormatInt(reps[len(reps)-1].ID, 10)
	}
	w.Header()["Cache-Control"] = noStore
	a.writeJSON(w, r, http.StatusOK, out)
}

// downloadReport: GET /api/v1/reports/{id}/download?expires=&sig= → the
// file. The signed URL is the authorisation; a bad or expired one is 404.
func (a *API) downloadReport(w http.ResponseWriter, r *http.Request) {
	if a.d.Reports == nil {
		a.writeError(w, r, errNoReports())
		return
	}
	id, ok := pathID(r)
	if !ok {
		a.writeError(w, r, errNotFound("report "+truncID(r)))
		return
	}
	q := r.URL.Query()
	rc, rep, err := a.d.Reports.Open(r.Context(), id, q.Get("expires"), q.Get("sig"))
	if err != nil {
		if errors.Is(err, market.ErrNotFound) {
			err = errNotFound("report " + strconv.FormatInt(id, 10) + " (or the link expired)")
		}
		a.writeError(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", rep.Format.ContentType())
	h.Set("Content-Disposition", `attachment; filename="findash-report-`+strconv.FormatInt(rep.ID, 10)+"."+string(rep.Format)+`"`)
	h["Cache-Control"] = []string{"private, no-store"}
	if rep.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(rep.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		// A stalled client is cut by the write deadline, moved per chunk;
		// the error has no one to go to (the status is sent).
		_ = a.copyResponse(w, rc)
	}
}
