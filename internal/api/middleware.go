package api

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	rateLimited *prometheus.CounterVec
	// reportsRejected counts POST /api/v1/reports refused with 429
	// too_many_reports (reports.go).
	reportsRejected prometheus.Counter
	timeouts        *prometheus.CounterVec
	// udfTruncated counts /udf/history answers cut at maxUDFBars (udf.go).
	udfTruncated prometheus.Counter
	// candleReads counts the candle reads of /api/v1/candles (cache
	// misses) answered from memory [0] and from the store [1] (read.go).
	candleReads [2]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "findash_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request on the public listener, by route pattern and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "findash_http_requests_in_flight",
			Help: "HTTP requests being served on the public listener.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "findash_http_rate_limited_total",
			Help: "Requests answered 429, by limit class (read, ingest, auth_ip, auth_ip_email, auth_fail_ip, user, inflight_ip); auth_fail_ip also counts a GET /ws session cookie left unread (the connection served anonymously).",
		}, []string{"class"}),
		reportsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "findash_reports_rejected_total",
			Help: "Report requests refused with 429 too_many_reports: the user already had --reports-max-queued reports queued or running.",
		}),
	}
	m.timeouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "findash_http_timeouts_total",
		Help: "Public-listener requests and connections cut by a deadline, by phase (header, body, write, idle).",
	}, []string{"phase"})
	m.udfTruncated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "findash_udf_history_truncated_total",
		Help: "/udf/history answers whose from..to range held more than 5,000 bars, cut to the newest 5,000.",
	})
	reads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "findash_api_candle_reads_total",
		Help: "Candle reads of /api/v1/candles past the response cache, by source: memory (the recent candles of the live state) or store (a database query).",
	}, []string{"source"})
	m.candleReads = [2]prometheus.Counter{reads.WithLabelValues("memory"), reads.WithLabelValues("store")}
	reg.MustRegister(m.duration, m.inFlight, m.rateLimited, m.reportsRejected, m.timeouts, m.udfTruncated, reads)
	return m
}

// statusText holds the status codes as strings, to label metrics without
// allocating.
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// routeObserver is one route's findash_http_request_duration_seconds,
// with the children of the statuses nearly every answer has (200, 304)
// resolved at their first use: WithLabelValues hashes both labels and
// takes the vector's lock on every request (2 % of an instance's CPU
// under the read mix of `findash bench api`). They are not created ahead
// of use, so /metrics shows no series a route never answered.
type routeObserver struct {
	vec    *prometheus.HistogramVec
	route  string
	common [2]atomic.Pointer[prometheus.Observer] // 200, 304
}

// observer returns the histogram child of status (code, its label).
func (o *routeObserver) observer(status int, code string) prometheus.Observer {
	i := 0
	switch status {
	case http.StatusOK:
	case http.StatusNotModified:
		i = 1
	default:
		return o.vec.WithLabelValues(o.route, code)
	}
	if p := o.common[i].Load(); p != nil {
		return *p
	}
	ob := o.vec.WithLabelValues(o.route, code)
	o.common[i].Store(&ob)
	return ob
}

// requestID returns the id serve gave the request whose response is w:
// it is in the response's X-Request-Id (the client's when valid, else one
// the API made). Kept there rather than in a context value on a copy of
// the request (3 allocations of the ~12 of a cached read) or in the
// request's own header (http.Handler: a handler must not modify the
// request; a caller reusing it would send the id back).
func requestID(w http.ResponseWriter) string {
	if ids := w.Header()["X-Request-Id"]; len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// logFor returns the logger for lines about the request whose response is
// w: with its request id.
func (a *API) logFor(w http.ResponseWriter) *slog.Logger {
	return a.log.With("request_id", requestID(w))
}

// serve is the one middleware every request passes: request id, in-flight
// gauge, panic recovery, duration histogram, access log, the body deadline
// and the per-IP limit of requests in flight; then the mux.
func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// The status writer and the made id's header value share one
	// allocation (one of the ~9 of a cached read).
	st := &reqState{sw: statusWriter{ResponseWriter: w}}
	ids := r.Header["X-Request-Id"]
	if len(ids) > 0 && validRequestID(ids[0]) {
		// The request's backing array, capped so that an append to the
		// response's copies; nothing writes a header value in place.
		ids = ids[:1:1]
	} else {
		st.id[0] = a.ids.next()
		ids = st.id[:]
	}
	w.Header()["X-Request-Id"] = ids
	id := ids[0]
	sw := &st.sw
	a.m.inFlight.Inc()
	defer func() {
		a.m.inFlight.Dec()
		p := recover()
		if p != nil {
			if p == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
				a.observe(r, sw, start)
				panic(p)
			}
			a.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", id), slog.String("route", r.Pattern),
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if sw.status == 0 {
				a.writeError(sw, r, errors.New("panic")) // a 500 "internal error"; logged above
			}
		}
		if isTimeout(sw.err) {
			a.m.timeouts.WithLabelValues("write").Inc()
		}
		a.observe(r, sw, start)
	}()
	// The body deadline first: a request refused below still has its
	// unread body discarded by net/http, under this deadline.
	a.bodyDeadline(sw, r)
	if !exemptFromInFlight(r.URL.Path) {
		ip := a.clientIP(r)
		if !a.inflight.acquire(ip) {
			a.m.rateLimited.WithLabelValues("inflight_ip").Inc()
			a.writeError(sw, r, errTooManyInFlight(a.cfg.MaxInFlightPerIP))
			return
		}
		defer a.inflight.release(ip)
	}
	a.mux.ServeHTTP(sw, r)
}

func errTooManyInFlight(n int) error {
	return &httpError{status: http.StatusTooManyRequests, code: "rate_limited",
		message: "more than " + strconv.Itoa(n) + " requests in flight from this address; retry later",
		header:  http.Header{"Retry-After": {"1"}, "Connection": {"close"}}}
}

func (a *API) observe(r *http.Request, sw *statusWriter, start time.Time) {
	d := time.Since(start)
	status := sw.status
	switch {
	case sw.hijacked:
		status = http.StatusSwitchingProtocols
	case status == 0:
		status = http.StatusOK
	}
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	code := "other"
	if status > 0 && status < len(statusText) {
		code = statusText[status]
	}
	if ro := a.routeObs[route]; ro != nil {
		ro.observer(status, code).Observe(d.Seconds())
	} else {
		a.m.duration.WithLabelValues(route, code).Observe(d.Seconds())
	}
	if level := accessLevel(r.Method, status); a.log.Enabled(r.Context(), level) {
		a.log.LogAttrs(r.Context(), level, "http request",
			slog.String("request_id", requestID(sw)),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("bytes", sw.bytes),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("remote", r.RemoteAddr))
	}
}

// accessLevel is the level of a request's access log line. Successful reads
// (GET and HEAD below 400, WebSocket upgrades included) are the bulk of the
// traffic and log at debug: formatting and writing a JSON line cost 1.35 µs
// on a 1.65 µs cached GET (BenchmarkAccessLog), plus a write syscall per line
// to stdout, so at info they halved the read throughput. Writes and client
// errors log at info, server errors at warn; every line keeps its request_id
// (the duration histogram still counts every request).
func accessLevel(method string, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	case status < 400 && (method == http.MethodGet || method == http.MethodHead):
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}

// reqState is what serve allocates per request.
type reqState struct {
	sw statusWriter
	id [1]string // X-Request-Id's value when serve made the id
}

// statusWriter records the status and size of a response. It passes
// Flush, Hijack (the WebSocket upgrade) and Unwrap through.
type statusWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
	err      error // the first write error
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer does not support hijacking")
	}
	c, rw, err := h.Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// validRequestID accepts a client's X-Request-Id of 1–128 characters of
// A-Z a-z 0-9 - _ . : so that it is safe in logs and headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// idGen makes request ids: a random per-process prefix and a counter,
// unique without a random read per request.
type idGen struct {
	prefix string
	n      *atomic.Uint64
}

func newIDGen() idGen {
	var b [6]byte
	rand.Read(b[:])
	return idGen{prefix: hex.EncodeToString(b[:]) + "-", n: new(atomic.Uint64)}
}

func (g idGen) next() string {
	var buf [32]byte
	out := append(buf[:0], g.prefix...)
	out = strconv.AppendUint(out, g.n.Add(1), 36)
	return string(out)
}
