package api

import (
	"net/http"
	"slices"
	"strings"
)

// The roles whose routes the API serves (docs/reference/http.md, "Roles").
// The worker role serves no route but the health checks, which every role
// serves.
const (
	// RoleIngest serves POST /api/v1/ticks.
	RoleIngest = "ingest"
	// RoleGateway serves GET /ws.
	RoleGateway = "gateway"
	// RoleAPI serves every other route: reads, accounts, watchlists,
	// alerts, reports, the OpenAPI document and the dashboard.
	RoleAPI = "api"
)

// serves reports whether the instance runs role (Config.Roles; empty: all).
func (a *API) serves(role string) bool {
	return len(a.cfg.Roles) == 0 || slices.Contains(a.cfg.Roles, role)
}

// wrongRole is the error of a route (what) whose role the instance does not
// run: 421 Misdirected Request, which says that this server cannot answer
// for the target and another can (RFC 9110, 15.5.20). Unlike 503 it is not
// to be retried here, and unlike 404 it does not deny that the route
// exists. A load balancer that sends it here is misrouting.
func (a *API) wrongRole(role, what string) error {
	runs := "no role"
	if len(a.cfg.Roles) > 0 {
		runs = "the " + strings.Join(a.cfg.Roles, ", ") + " role"
		if len(a.cfg.Roles) > 1 {
			runs += "s"
		}
	}
	return &httpError{
		status: http.StatusMisdirectedRequest, code: "wrong_role",
		message: what + " is served by instances with the " + role + " role; this instance runs " + runs,
	}
}
