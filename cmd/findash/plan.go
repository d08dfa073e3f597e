package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// The capacity of one pod of each role, as docs/stages.md ("Stage 4:
// sizing") derives it from the benchmarks; deploy/k8s/hpa.yaml scales on
// the same figures. Change them together.
const (
	// planConnsPerGateway: docs/benchmarks/ws.md, 19,000 connections held
	// by one process at 9.35 KiB each; half as the target.
	planConnsPerGateway = 10_000
	// planKiBPerConn: docs/benchmarks/ws.md, RSS per connection.
	planKiBPerConn = 9.35
	// planReqPerAPI: docs/benchmarks/api.md, the read mix at 2,000 req/s
	// kept p99 7.56 ms.
	planReqPerAPI = 2_000
	// planTicksPerIngest: docs/benchmarks/ingest.md, 206K ticks/s accepted
	// by one instance on the loaded machine; half as the target.
	planTicksPerIngest = 100_000
	// planMaxInput bounds every input (a plan past it is not one this
	// table's figures can speak for).
	planMaxInput = 1_000_000_000
)

// planRole is one line of a plan.
type planRole struct {
	role     string
	replicas int
	cpu      int // millicores requested per pod (deploy/k8s)
	memMiB   int // memory per pod, MiB (the need, within the manifests' limit)
	why      string
}

// makePlan sizes the four roles for users concurrent WebSocket users,
// ticksPerS ticks/s in and apiRPS REST requests/s.
func makePlan(users, ticksPerS, apiRPS int) []planRole {
	ceilDiv := func(a, b int) int { return (a + b - 1) / b }
	gw := max(2, ceilDiv(users, planConnsPerGateway))
	// A gateway's memory: 64 MiB of base plus its share of connections,
	// doubled for GC headroom, within the manifests' 2 GiB limit.
	gwMem := min(2048, max(512, int(2*(64+float64(min(users, planConnsPerGateway))*planKiBPerConn/1024))))
	return []planRole{
		{"gateway", gw, 500, gwMem, fmt.Sprintf("%d connections / %d per pod (docs/benchmarks/ws.md)", users, planConnsPerGateway)},
		{"api", max(2, ceilDiv(apiRPS, planReqPerAPI)), 500, 1024, fmt.Sprintf("%d req/s / %d per pod at p99 < 10 ms (docs/benchmarks/api.md)", apiRPS, planReqPerAPI)},
		{"ingest", max(2, ceilDiv(ticksPerS, planTicksPerIngest)), 250, 1024, fmt.Sprintf("%d ticks/s / %d per pod (docs/benchmarks/ingest.md)", ticksPerS, planTicksPerIngest)},
		{"worker", 2, 250, 1024, "every worker reads the whole log: one active, one standby (decision 0041)"},
	}
}

func planCommand(stdout io.Writer) *cobra.Command {
	var users, ticks, rps int
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Print the stage-4 roles, replicas and resources for a load",
		Long: `Print the stage-4 roles, replicas and resources for a load.

The figures per pod are those of docs/stages.md ("Stage 4: sizing"), measured
per process with findash bench (docs/benchmarks); deploy/k8s/hpa.yaml scales
on the same ones. --api-rps defaults to one request per user every 10 s, an
assumption, not a measurement: pass your own.`,
		Example: `  findash plan --users 1000000 --ticks-per-s 200000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for name, v := range map[string]int{"--users": users, "--ticks-per-s": ticks, "--api-rps": rps} {
				if v < 0 || v > planMaxInput {
					return fmt.Errorf("%s %d: want 0 to %d", name, v, planMaxInput)
				}
			}
			if !cmd.Flags().Changed("api-rps") {
				rps = users / 10
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "role\treplicas\tcpu request\tmemory\tfrom")
			cpu, mem := 0, 0
			for _, r := range makePlan(users, ticks, rps) {
				fmt.Fprintf(tw, "%s\t%d\t%dm\t%dMi\t%s\n", r.role, r.replicas, r.cpu, r.memMiB, r.why)
				cpu += r.replicas * r.cpu
				mem += r.replicas * r.memMiB
			}
			fmt.Fprintf(tw, "total\t\t%dm\t%dMi\t\n", cpu, mem)
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&users, "users", 1000, "concurrent WebSocket users")
	cmd.Flags().IntVar(&ticks, "ticks-per-s", 1000, "ticks per second ingested")
	cmd.Flags().IntVar(&rps, "api-rps", 0, "REST requests per second (default: users / 10)")
	return cmd
}
