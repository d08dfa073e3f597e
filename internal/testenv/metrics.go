package testenv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Counter returns the counter name gathered from g (a test's own registry),
// summed over its series (labels); a counter g does not have fails tb.
func Counter(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}

// Gauge returns the gauge name gathered from g (a test's own registry),
// summed over its series (labels); a gauge g does not have fails tb.
func Gauge(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
			return sum
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}
