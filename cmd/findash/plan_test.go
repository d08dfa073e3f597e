package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestPlan: the playbook's 1M-user shape needs 100 gateways (10,000
// connections each), ingest and workers scale with the tick rate (workers
// up to one per log partition), every role keeps two pods at least, and a
// negative input is refused.
func TestPlan(t *testing.T) {
	p := makePlan(measured(), 1_000_000, 250_000, 100_000)
	want := map[string]int{"gateway": 100, "api": 50, "ingest": 3, "worker": 7} // 250,000 / 36,714 per worker

	for _, r := range p {
		if r.replicas != want[r.role] {
			t.Errorf("%s: %d replicas, want %d", r.role, r.replicas, want[r.role])
		}
	}
	for _, r := range makePlan(measured(), 0, 1_000_000, 0) {
		if r.role == "worker" && r.replicas != 8 {
			t.Errorf("worker at 1M ticks/s: %d replicas, want 8 (one per partition)", r.replicas)
		}
	}
	for _, r := range makePlan(measured(), 0, 0, 0) {
		if r.replicas != 2 {
			t.Errorf("idle %s: %d replicas, want 2", r.role, r.replicas)
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"plan", "--users", "1000000", "--ticks-per-s", "200000"}, nil, nil, &out, &errb); err != nil {
		t.Fatalf("plan: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "gateway  100") || !strings.Contains(out.String(), "total") {
		t.Fatalf("plan printed:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"plan", "--users", "-1"}, nil, nil, &out, &errb); err == nil {
		t.Fatal("plan --users -1 succeeded")
	}
}
