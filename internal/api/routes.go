package api

import (
	"net/http"
	"slices"
	"strings"
)

// routes registers the whole public surface. Keep it the one place that
// shows every route; openapi_test.go checks each is in openapi.json.
func (a *API) routes() {
	a.mux = http.NewServeMux()
	a.routeObs = map[string]*routeObserver{}

	// Every role: health.
	a.register("GET /livez", a.livez)
	a.register("GET /readyz", a.readyz)
	a.patterns = append(a.patterns, "GET /livez", "GET /readyz")

	// The gateway role: the WebSocket stream. The ingest role: ticks in.
	// Every other route is the api role's (a.handle); on an instance
	// without a route's role it answers 421 wrong_role (roles.go).
	a.handleRole(RoleGateway, "GET /ws", a.websocket)
	a.handleRole(RoleIngest, "POST /api/v1/ticks", a.postTicks) // limited per API key once authenticated
	// The exchange feeds run in the ingest role: only an instance that runs
	// them can say how they are (feeds.go).
	a.handleRole(RoleIngest, "GET /api/v1/feeds", a.limitRead(a.feeds))

	if a.d.Dashboard == nil {
		a.handle("GET /{$}", a.index) // else the dashboard answers / (below)
	}
	a.handle("GET /api/v1/openapi.json", a.openapi)

	a.handle("GET /api/v1/symbols", a.limitRead(a.symbols))
	a.handle("GET /api/v1/quotes", a.limitRead(a.quotes))
	a.handle("GET /api/v1/candles/{symbol...}", a.limitRead(a.candles))
	a.handle("GET /api/v1/ticks/{symbol...}", a.limitRead(a.ticks)) // the store, then the archive (ticks.go)
	a.handle("GET /api/v1/movers", a.limitRead(a.movers))

	// TradingView's UDF datafeed (udf.go): public reads, like the above.
	a.handle("GET /udf/config", a.limitRead(a.udfConfig))
	a.handle("GET /udf/symbols", a.limitRead(a.udfSymbols))
	a.handle("GET /udf/search", a.limitRead(a.udfSearch))
	a.handle("GET /udf/history", a.limitRead(a.udfHistory))
	a.handle("GET /udf/time", a.limitRead(a.udfTime))

	// Accounts (accounts.go): signup and login limited per IP and per
	// e-mail; the rest need a session (csrf.go: withSession).
	a.handle("POST /api/v1/auth/signup", a.signup)
	a.handle("POST /api/v1/auth/login", a.login)
	a.handle("POST /api/v1/auth/logout", a.logout)
	a.handle("POST /api/v1/auth/verify", a.verifyEmail)
	a.handle("POST /api/v1/auth/verify/resend", a.resendVerification)
	a.handle("POST /api/v1/auth/password-reset", a.requestPasswordReset)
	a.handle("POST /api/v1/auth/password-reset/confirm", a.resetPassword)
	a.handle("POST /api/v1/auth/ws-token", a.withSession(a.wsToken))
	a.handle("GET /api/v1/me", a.withSession(a.me))
	a.handle("GET /api/v1/apikeys", a.withSession(a.listAPIKeys))
	a.handle("POST /api/v1/apikeys", a.withSession(a.createAPIKey))
	a.handle("DELETE /api/v1/apikeys/{id}", a.withSession(a.deleteAPIKey))
	a.handle("GET /api/v1/sessions", a.withSession(a.listSessions))
	a.handle("DELETE /api/v1/sessions/{id}", a.withSession(a.deleteSession))

	// Watchlists (watchlists.go): owner only; another user's id is 404.
	a.handle("GET /api/v1/watchlists", a.withSession(a.listWatchlists))
	a.handle("POST /api/v1/watchlists", a.withSession(a.createWatchlist))
	a.handle("GET /api/v1/watchlists/{id}", a.withSession(a.getWatchlist))
	a.handle("PUT /api/v1/watchlists/{id}", a.withSession(a.putWatchlist))
	a.handle("PATCH /api/v1/watchlists/{id}", a.withSession(a.patchWatchlist))
	a.handle("DELETE /api/v1/watchlists/{id}", a.withSession(a.deleteWatchlist))
	a.handle("POST /api/v1/watchlists/{id}/symbols", a.withSession(a.addWatchlistSymbol))
	a.handle("DELETE /api/v1/watchlists/{id}/symbols/{symbol...}", a.withSession(a.removeWatchlistSymbol))

	// Portfolio (portfolio.go): owner only; another user's id is 404.
	a.handle("GET /api/v1/portfolio", a.withSession(a.getPortfolio))
	a.handle("POST /api/v1/portfolio/holdings", a.withSession(a.addHolding))
	a.handle("PUT /api/v1/portfolio/holdings/{id}", a.withSession(a.putHolding))
	a.handle("DELETE /api/v1/portfolio/holdings/{id}", a.withSession(a.deleteHolding))

	// Alerts and reports (alerts.go, reports.go): owner only; another
	// user's id is 404.
	a.handle("GET /api/v1/alerts", a.withSession(a.listAlerts))
	a.handle("POST /api/v1/alerts", a.withSession(a.createAlert))
	a.handle("GET /api/v1/alerts/events", a.withSession(a.alertEvents))
	a.handle("PATCH /api/v1/alerts/{id}", a.withSession(a.patchAlert))
	a.handle("DELETE /api/v1/alerts/{id}", a.withSession(a.deleteAlert))
	a.handle("GET /api/v1/webhook-secret", a.withSession(a.webhookSecret))
	a.handle("GET /api/v1/reports", a.withSession(a.listReports))
	a.handle("POST /api/v1/reports", a.withSession(a.createReport))
	a.handle("GET /api/v1/reports/{id}", a.withSession(a.getReport))
	a.handle("GET /api/v1/reports/{id}/download", a.downloadReport) // authorised by its signed URL

	a.allowMethods()
	a.register("/", func(w http.ResponseWriter, r *http.Request) {
		// The dashboard answers every GET no route claims (its pages, its
		// assets, index.html for app URLs such as /s/BTC-USD); /api/ stays JSON.
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/api/") {
			if !a.serves(RoleAPI) {
				a.writeError(w, r, a.wrongRole(RoleAPI, "the dashboard"))
				return
			}
			if a.d.Dashboard != nil {
				a.d.Dashboard.ServeHTTP(w, r)
				return
			}
		}
		a.writeError(w, r, errNotFound("path "+r.URL.Path))
	})
}

// handle registers pattern ("METHOD /path") as a route of the api role.
func (a *API) handle(pattern string, h http.HandlerFunc) {
	a.handleRole(RoleAPI, pattern, h)
}

// handleRole registers pattern ("METHOD /path") as a route of role and
// remembers it. On an instance without role, the pattern answers 421.
func (a *API) handleRole(role string, pattern string, h http.HandlerFunc) {
	if !a.serves(role) {
		err := a.wrongRole(role, pattern)
		h = func(w http.ResponseWriter, r *http.Request) { a.writeError(w, r, err) }
	}
	a.register(pattern, h)
	a.patterns = append(a.patterns, pattern)
}

// register adds pattern to the mux, and its duration metrics to
// routeObs (observe's, read-only once routes returns).
func (a *API) register(pattern string, h http.HandlerFunc) {
	a.mux.HandleFunc(pattern, h)
	a.routeObs[pattern] = &routeObserver{vec: a.m.duration, route: pattern}
}

// allowMethods registers, for every path, a method-less fallback that
// answers 405 in JSON with the Allow header (instead of ServeMux's text).
func (a *API) allowMethods() {
	methods := map[string][]string{}
	var paths []string
	for _, p := range a.patterns {
		m, path, _ := strings.Cut(p, " ")
		if methods[path] == nil {
			paths = append(paths, path)
		}
		methods[path] = append(methods[path], m)
		if m == http.MethodGet {
			methods[path] = append(methods[path], http.MethodHead)
		}
	}
	for _, path := range paths {
		ms := methods[path]
		slices.Sort(ms)
		allow := strings.Join(ms, ", ")
		h := func(w http.ResponseWriter, r *http.Request) {
			a.writeError(w, r, &httpError{
				status: http.StatusMethodNotAllowed, code: "method_not_allowed",
				message: r.Method + " is not allowed here; use " + allow,
				header:  http.Header{"Allow": {allow}},
			})
		}
		// One pattern per other method, not a method-less one: a
		// method-less "/api/v1/alerts/events" would conflict with
		// "PATCH /api/v1/alerts/{id}" (ServeMux cannot rank them). GET
		// covers HEAD.
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			if !slices.Contains(ms, m) {
				a.register(m+" "+path, h)
			}
		}
	}
}
