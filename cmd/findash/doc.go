// Command findash is the real-time market-data platform in one binary: see
// `findash --help` and the project README.
//
// This package does all the wiring: it picks the engines a configuration
// names (backends.go), builds the components (serve.go, roles.go) and runs
// them (runner.go).
//
// It is the only package that imports the concrete adapters and the
// configuration, and nothing imports it. It must not import test support
// (storetest, notifytest, testenv) or the dashboard bundler.
//
// # Serving
//
// `findash serve` runs the roles the configuration names (all by default).
// partsOf (roles.go) is the one table from roles to what they run:
//
//	ingest   POST /api/v1/ticks publishes to the log; the simulator feed
//	gateway  the live feed and dashboard; /ws, the hub's loops, the alert relay
//	api      the live feed and dashboard
//	worker   persister, alert evaluator, job queue and its handlers
//
// Every instance serves the other API routes and opens every resource.
// Each long-running part is a service (runner.go): a constructor, and a
// Run(ctx) that works until ctx ends, drains and returns. One runner
// starts them in layers and stops them in reverse, each layer once the one
// above it has returned, all within shutdown_timeout:
//
//	start  layer        services                                 stops
//	1      resources    store, bus, Redis, job queue, tracing    6th: closed, last opened first
//	2      base         admin listener, database upkeep          5th
//	3      log readers  live feed, gateway loops, alert relay,   4th: the persister flushes
//	                    persister, alert evaluator, job queue
//	4      http         API, WebSocket upgrades, dashboard       3rd: WebSocket clients told to
//	                                                                  reconnect, requests finish
//	5      feeds        the simulator                            2nd: no more ticks produced
//	6      readiness    the readiness gate                       1st: /readyz 503, drain_delay
//
// A service that fails stops the instance the same way, and serve returns
// its error. docs/reference/operations.md ("Signals and the drain") is the
// operator's view of the same order; docs/decisions/0008-service-runner.md records why.
package main
