package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCostDocMatchesCapacity: every row of docs/cost.md whose first cell
// is a `key` names a figure of capacity.go, and its second cell is that
// figure's value; every figure of the table appears in the doc. So the
// doc's numbers, `findash plan` and the monthly cost cannot disagree.
func TestCostDocMatchesCapacity(t *testing.T) {
	c := measured()
	p := c.prices
	want := map[string]float64{
		"gateway_kib_per_conn":        c.gatewayKiBPerConn,
		"gateway_us_per_delivery":     c.gatewayUSPerDelivery,
		"gateway_base_mib":            c.gatewayBaseMiB,
		"gateway_conns_per_pod":       float64(c.gatewayConnsPerPod),
		"gateway_max_pods":            float64(c.gatewayMaxPods),
		"gateway_cpu_request_milli":   float64(c.gatewayCPURequestMilli),
		"api_req_per_pod":             float64(c.apiReqPerPod),
		"ingest_us_per_tick":          c.ingestUSPerTick,
		"ingest_ticks_per_pod":        float64(c.ingestTicksPerPod),
		"persist_us_per_tick":         c.persistUSPerTick,
		"worker_ticks_per_pod":        float64(c.workerTicksPerPod),
		"worker_max_pods":             float64(c.workerMaxPods),
		"sqlite_bytes_per_tick":       c.sqliteBytesPerTick,
		"pg_bytes_per_tick":           c.pgBytesPerTick,
		"delivery_wire_bytes":         c.deliveryWireBytes,
		"node_usd_per_hour":           p.nodeHour,
		"node_vcpu":                   p.nodeVCPU,
		"node_gib":                    p.nodeGiB,
		"db_usd_per_hour":             p.dbHour,
		"cache_usd_per_hour":          p.cacheHour,
		"cluster_usd_per_hour":        p.controlHour,
		"lb_usd_per_hour":             p.lbHour,
		"storage_usd_per_gb_month":    p.storageGBMonth,
		"egress_usd_per_gb":           p.egressGB,
		"cost_1m_users_usd_per_month": math.Round(oneMillion(c).total()),
	}
	f, err := os.Open("../../docs/cost.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		w, ok := want[key]
		if !ok {
			t.Errorf("docs/cost.md: %q is not a figure of capacity.go", key)
			continue
		}
		seen[key] = true
		v, err := strconv.ParseFloat(strings.NewReplacer(",", "", "$", "", "*", "").Replace(strings.TrimSpace(cells[2])), 64)
		if err != nil {
			t.Errorf("docs/cost.md: %s: value %q: %v", key, cells[2], err)
			continue
		}
		if math.Abs(v-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("docs/cost.md: %s = %v, capacity.go has %v", key, v, w)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("docs/cost.md has no row for %s (%v)", k, want[k])
		}
	}
}

// oneMillion is the playbook's stage-4 shape that docs/cost.md prices:
// 1M users each receiving one tick a second, 10,000 ticks/s in, one REST
// request per user every 10 s, 7 days of ticks kept.
func oneMillion(c capacity) costLines {
	plan := makePlan(c, 1_000_000, 10_000, 100_000)
	return c.monthlyCost(plan, 1_000_000, 1, 10_000, 7)
}

// TestPlanCostShape: the cost grows with users, the egress is priced per
// delivery, and a plan for nobody still pays for the minimum cluster.
func TestPlanCostShape(t *testing.T) {
	c := measured()
	small := c.monthlyCost(makePlan(c, 1000, 1000, 100), 1000, 1, 1000, 7)
	big := oneMillion(c)
	if !(big.total() > small.total() && big.nodes > small.nodes && big.egress > 100*small.egress) {
		t.Fatalf("1M users %+v not above 1K users %+v", big, small)
	}
	if small.nodes < 3 {
		t.Fatalf("%v nodes: want the 3-node minimum", small.nodes)
	}
	if s := fmt.Sprint(c.gatewayCores(1_000_000, 1)); s == "0" {
		t.Fatal("no fan-out CPU for 1M users")
	}
}

// TestHPAMatchesCapacity: the gateway HPA of deploy/k8s scales on the
// capacity table's connections per pod up to its pod count, which reaches
// 1M connections, and the pod's CPU request covers a pod of connections at
// one tick a second each.
func TestHPAMatchesCapacity(t *testing.T) {
	c := measured()
	b, err := os.ReadFile("../../deploy/k8s/hpa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gw := string(b)
	gw = gw[strings.Index(gw, "name: findash-gateway"):]
	gw = gw[:strings.Index(gw, "\n---")]
	for _, want := range []string{
		fmt.Sprintf("maxReplicas: %d ", c.gatewayMaxPods),
		fmt.Sprintf("averageValue: \"%d\" ", c.gatewayConnsPerPod),
	} {
		if !strings.Contains(gw, want) {
			t.Errorf("hpa.yaml findash-gateway: no %q (capacity.go)", want)
		}
	}
	if n := c.gatewayMaxPods * c.gatewayConnsPerPod; n < 1_000_000 {
		t.Errorf("gateway HPA reaches %d connections, want 1M", n)
	}
	if need := c.gatewayCores(c.gatewayConnsPerPod, 1) * 1000; need > float64(c.gatewayCPURequestMilli) {
		t.Errorf("a pod of %d connections at 1 tick/s needs %.0fm CPU, the request is %dm", c.gatewayConnsPerPod, need, c.gatewayCPURequestMilli)
	}
	d, err := os.ReadFile("../../deploy/k8s/deployment-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("cpu: %dm", c.gatewayCPURequestMilli); !strings.Contains(string(d), want) {
		t.Errorf("deployment-gateway.yaml: no %q (capacity.go)", want)
	}
}

// TestEgressTiers: the first 10 TB of a month cost $0.09/GB, and past 150 TB
// every GB costs the top price.
func TestEgressTiers(t *testing.T) {
	if got := egressCost(1000, 0.05); math.Abs(got-90) > 1e-9 {
		t.Errorf("1,000 GB = $%.2f, want $90", got)
	}
	base := egressCost(150*1024, 0.05)
	if want := 10*1024*0.09 + 40*1024*0.085 + 100*1024*0.07; math.Abs(base-want) > 1e-6 {
		t.Errorf("150 TB = $%.2f, want $%.2f", base, want)
	}
	if got := egressCost(150*1024+1000, 0.05); math.Abs(got-base-50) > 1e-6 {
		t.Errorf("1,000 GB past 150 TB = $%.2f more, want $50", got-base)
	}
}
