package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// planMaxInput bounds every input (a plan past it is not one the capacity
// table's figures can speak for).
const planMaxInput = 1_000_000_000

// planRole is one line of a plan.
type planRole struct {
	role     string
	replicas int
	cpu      int // millicores requested per pod (deploy/k8s)
	memMiB   int // memory per pod, MiB (the need, within the manifests' limit)
	why      string
}

// makePlan sizes the four roles for users concurrent WebSocket users,
// ticksPerS ticks/s in and apiRPS REST requests/s, from the measured
// figures of c (capacity.go, docs/cost.md).
func makePlan(c capacity, users, ticksPerS, apiRPS int) []planRole {
	ceilDiv := func(a, b int) int { return (a + b - 1) / b }
	gw := max(2, ceilDiv(users, c.gatewayConnsPerPod))
	// A gateway's memory: its base plus its share of connections, doubled
	// for GC headroom, within the manifests' 2 GiB limit.
	perPod := float64(min(users, c.gatewayConnsPerPod))
	gwMem := min(2048, max(512, int(2*(c.gatewayBaseMiB+perPod*c.gatewayKiBPerConn/1024))))
	return []planRole{
		{"gateway", gw, c.gatewayCPURequestMilli, gwMem, fmt.Sprintf("%d connections / %d per pod at %.1f KiB and %.0f µs per delivery (docs/cost.md)", users, c.gatewayConnsPerPod, c.gatewayKiBPerConn, c.gatewayUSPerDelivery)},
		{"api", max(2, ceilDiv(apiRPS, c.apiReqPerPod)), 500, 1024, fmt.Sprintf("%d req/s / %d per pod, ~120 µs of CPU each (docs/benchmarks/api.md)", apiRPS, c.apiReqPerPod)},
		{"ingest", max(2, ceilDiv(ticksPerS, c.ingestTicksPerPod)), 250, 1024, fmt.Sprintf("%d ticks/s / %d per pod (docs/benchmarks/ingest.md)", ticksPerS, c.ingestTicksPerPod)},
		{"worker", min(c.workerMaxPods, max(2, ceilDiv(ticksPerS, c.workerTicksPerPod))), 250, 1024, fmt.Sprintf("%d ticks/s / %d per worker, at most one per log partition (%d; decisions 0042, 0043)", ticksPerS, c.workerTicksPerPod, c.workerMaxPods)},
	}
}

func planCommand(stdout io.Writer) *cobra.Command {
	var users, ticks, rps, retention int
	var perUser float64
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
			if perUser < 0 || perUser > 1000 {
				return fmt.Errorf("--user-ticks-per-s %g: want 0 to 1000", perUser)
			}
			for name, v := range map[string]int{"--users": users, "--ticks-per-s": ticks, "--api-rps": rps, "--retention-days": retention} {
				if v < 0 || v > planMaxInput {
					return fmt.Errorf("%s %d: want 0 to %d", name, v, planMaxInput)
				}
			}
			if !cmd.Flags().Changed("api-rps") {
				rps = users / 10
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "role\treplicas\tcpu request\tmemory\tfrom")
			c := measured()
			plan := makePlan(c, users, ticks, rps)
			cpu, mem := 0, 0
			for _, r := range plan {
				fmt.Fprintf(tw, "%s\t%d\t%dm\t%dMi\t%s\n", r.role, r.replicas, r.cpu, r.memMiB, r.why)
				cpu += r.replicas * r.cpu
				mem += r.replicas * r.memMiB
			}
			fmt.Fprintf(tw, "total\t\t%dm\t%dMi\t\n", cpu, mem)
			if err := tw.Flush(); err != nil {
				return err
			}
			return printCost(stdout, c, plan, users, perUser, ticks, retention)
		},
	}
	cmd.Flags().IntVar(&users, "users", 1000, "concurrent WebSocket users")
	cmd.Flags().IntVar(&ticks, "ticks-per-s", 1000, "ticks per second ingested")
	cmd.Flags().IntVar(&rps, "api-rps", 0, "REST requests per second (default: users / 10)")
	cmd.Flags().Float64Var(&perUser, "user-ticks-per-s", 1, "ticks each user receives per second (the egress and the gateways' CPU)")
	cmd.Flags().IntVar(&retention, "retention-days", 7, "days of ticks kept in PostgreSQL (--tick-retention)")
	return cmd
}

// printCost prints the CPU the load needs by the measured figures and the
// monthly bill of the plan at list prices (capacity.go).
func printCost(w io.Writer, c capacity, plan []planRole, users int, perUser float64, ticks, retention int) error {
	l := c.monthlyCost(plan, users, perUser, ticks, retention)
	p := c.prices
	_, err := fmt.Fprintf(w, `
measured need: fan-out %.1f cores, %.1f GiB for the connections; ticks %.2f cores; PostgreSQL %.1f GB a day
monthly cost (AWS us-east-1 on-demand list prices, docs/cost.md):
  compute   %4.0f × %s   $%.0f
  database  primary + replica, %.0f GB of ticks each   $%.0f
  redis     one node   $%.0f
  cluster   EKS + load balancer   $%.0f
  egress    %.0f TB of ticks to users   $%.0f
  total     $%.0f
`, c.gatewayCores(users, perUser), c.gatewayGiB(users), c.tickCores(ticks), c.storageGBPerDay(ticks),
		l.nodes, p.node, l.compute, l.storage, l.db, l.cache, l.cluster,
		float64(users)*perUser*c.deliveryWireBytes*86400*30.4/1e12, l.egress, l.total())
	return err
}
