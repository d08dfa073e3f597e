package testenv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Counter returns the counter name gathered from g (a test's own registry),
// summed over its series (labels); a counter g does not have fails tb.
func Counter(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	return sum(tb, g, name, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

// Gauge returns the gauge name gathered from g (a test's own registry),
// summed over its series (labels); a gauge g does not have fails tb.
func Gauge(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	return sum(tb, g, name, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
}

// sum adds value of every series of the metric name gathered from g.
func sum(tb testing.TB, g prometheus.Gatherer, name string, value func(*dto.Metric) float64) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var s float64
			for _, m := range mf.GetMetric() {
				s += value(m)
			}
			return s
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}
