package api

import (
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed openapi.json
var openapiJSON []byte

// openapi: GET /api/v1/openapi.json — the OpenAPI 3 document of this API,
// kept in the repository as internal/api/openapi.json.
func (a *API) openapi(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = []string{"public, max-age=300"}
	w.Write(openapiJSON)
}

// websocket: GET /ws — the WebSocket gateway (docs/reference/websocket.md).
func (a *API) websocket(w http.ResponseWriter, r *http.Request) {
	if a.d.WebSocket == nil {
		a.writeError(w, r, &httpError{status: http.StatusServiceUnavailable, code: "unavailable", message: "this instance does not serve WebSockets"})
		return
	}
	a.serveWebSocket(w, r)
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>findash {{.Version}}</title>
</head>
<body>
<h1>findash {{.Version}}</h1>
<p>Real-time market data, running at stage {{.Stage}}. The dashboard is on its way; until then, the API:</p>
<ul>
<li><a href="/api/v1/symbols">GET /api/v1/symbols</a> — known symbols with their latest quote</li>
<li><a href="/api/v1/quotes">GET /api/v1/quotes?symbols=A,B</a> — latest quotes</li>
<li>GET /api/v1/candles/{symbol}?interval=1m&amp;from=&amp;to=&amp;limit= — candles, oldest first</li>
<li>GET /api/v1/ticks/{symbol}?from=&amp;to=&amp;limit= — raw ticks, oldest first, from the store and the archive</li>
<li><a href="/api/v1/movers">GET /api/v1/movers?limit=10</a> — top gainers and losers</li>
<li>POST /api/v1/ticks — ingest (API key)</li>
<li><a href="/api/v1/openapi.json">GET /api/v1/openapi.json</a> — the OpenAPI document</li>
<li>GET /ws — WebSocket stream of ticks, candles and quotes</li>
<li><a href="/readyz">GET /readyz</a> · <a href="/livez">GET /livez</a> — health</li>
</ul>
</body>
</html>
`))

// index: GET / — a minimal page saying what is running, until the
// dashboard lands. No script: the page is static.
func (a *API) index(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	version := a.d.Version
	if version == "" {
		version = "dev"
	}
	stage := a.d.Stage
	if stage == 0 {
		stage = 1
	}
	if err := indexTmpl.Execute(w, struct {
		Version string
		Stage   int
	}{version, stage}); err != nil {
		a.logFor(w).Warn("index page", "err", err)
	}
}
