package api

import (
	"maps"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRouteObserver: a route's duration histogram children are the
// vector's own (counted under the same labels), 200 and 304 resolved once,
// and no series exists before a route answers.
func TestRouteObserver(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	o := &routeObserver{vec: m.duration, route: "GET /api/v1/quotes"}
	if n := testutil.CollectAndCount(m.duration); n != 0 {
		t.Fatalf("%d series before any request, want 0", n)
	}
	for _, st := range []int{200, 200, 304, 429} {
		o.observer(st, statusText[st]).Observe(0.001)
	}
	if n := testutil.CollectAndCount(m.duration); n != 3 {
		t.Errorf("%d series after 200, 304, 429, want 3", n)
	}
	got := map[string]uint64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "findash_http_request_duration_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			labels := ""
			for _, l := range s.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + " "
			}
			got[labels] = s.GetHistogram().GetSampleCount()
		}
	}
	want := map[string]uint64{
		"route=GET /api/v1/quotes status=200 ": 2,
		"route=GET /api/v1/quotes status=304 ": 1,
		"route=GET /api/v1/quotes status=429 ": 1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("series = %v, want %v", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { o.observer(http.StatusOK, "200").Observe(0.001) }); n != 0 {
		t.Errorf("observe a 200: %v allocations, want 0", n)
	}
}

// BenchmarkRouteMetrics is the duration histogram's cost per request:
// the vector's WithLabelValues (before) against the route's resolved child.
func BenchmarkRouteMetrics(b *testing.B) {
	m := newMetrics(prometheus.NewRegistry())
	route := "GET /api/v1/candles/{symbol...}"
	b.Run("WithLabelValues", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.duration.WithLabelValues(route, "200").Observe(0.001)
			}
		})
	})
	b.Run("routeObserver", func(b *testing.B) {
		o := &routeObserver{vec: m.duration, route: route}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				o.observer(http.StatusOK, "200").Observe(0.001)
			}
		})
	})
}
