package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/findash/findash/internal/bench"
)

// TestBenchScenarioSelf runs `bench ws --scenario` scaled down (the CI
// smoke size) against an instance started in this process, for fanout and
// connect. --bare is not run here: it re-executes the binary, which under
// `go test` is the test binary (internal/bench tests the bare server).
func TestBenchScenarioSelf(t *testing.T) {
	for _, sc := range []string{bench.ScenarioFanout, bench.ScenarioConnect} {
		t.Run(sc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := []string{"bench", "ws", "--self", "--scenario", sc, "--conns", "40", "--symbols", "5", "--steps", "50", "--duration", "1500ms", "--json"}
			var out, errb bytes.Buffer
			if err := run(ctx, args, nil, nil, &out, &errb); err != nil {
				t.Fatalf("run(%q) = %v\nstderr:\n%s", args, err, errb.String())
			}
			var res bench.ScenarioResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("stdout is not one scenario JSON object: %v\n%s", err, out.String())
			}
			if res.Scenario != sc || len(res.Runs) != 1 || len(res.Summary) != 1 || res.Summary[0].System != "findash" {
				t.Fatalf("scenario %q, %d runs, summary %+v", res.Scenario, len(res.Runs), res.Summary)
			}
			r := res.Runs[0]
			if r.Error != "" || r.Result == nil {
				t.Fatalf("run: %s", r.Error)
			}
			if r.Result.Connections != 40 || r.Result.Drops != 0 || r.Result.Gaps != 0 {
				t.Errorf("connections %d, drops %d, gaps %d; notes %q", r.Result.Connections, r.Result.Drops, r.Result.Gaps, r.Result.Notes)
			}
			if sc == bench.ScenarioFanout && (r.Result.TicksPerPost != 1 || r.Result.Deliveries == 0 || r.Result.Deliveries != r.Result.ExpectedDeliveries) {
				t.Errorf("ticks per post %d, deliveries %d of %d", r.Result.TicksPerPost, r.Result.Deliveries, r.Result.ExpectedDeliveries)
			}
			if sc == bench.ScenarioConnect && (res.Summary[0].ConnectPerS.Median <= 0 || res.Summary[0].CPUPerConnUS.Median <= 0) {
				t.Errorf("connect summary %+v", res.Summary[0])
			}
		})
	}
}
