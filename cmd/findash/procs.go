package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/procs"
)

// addAdaptiveProcs adds the controller that lets GOMAXPROCS follow the
// load (decision 0086) unless it is turned off; where it cannot work
// (GOMAXPROCS in the environment, one CPU) it logs why and idles.
func addAdaptiveProcs(cfg config.Config, r *runner, reg prometheus.Registerer, log *slog.Logger) {
	if cfg.AdaptiveProcs {
		r.add(layerBase, "adaptive procs", procs.New(procs.Config{}, reg, log.With("component", "procs")))
	}
}
