package main

import "math"

// capacity is the one table of measured figures and list prices that
// `findash plan`, docs/cost.md and the sizing of docs/stages.md share.
// TestCostDocMatchesCapacity fails when a figure of docs/cost.md's
// "Figures" or "Prices" table differs from this one, so the doc and the
// command cannot drift apart; deploy/k8s/hpa.yaml cites the same figures.
type capacity struct {
	// Gateway: memory and CPU of WebSocket connections.
	gatewayKiBPerConn      float64 // server RSS per held connection
	gatewayUSPerDelivery   float64 // server CPU per tick delivered to one client
	gatewayBaseMiB         float64 // RSS of a gateway process before its clients
	gatewayConnsPerPod     int     // HPA target (findash_ws_connections per pod)
	gatewayMaxPods         int     // HPA maxReplicas
	gatewayCPURequestMilli int     // deployment-gateway.yaml
	// API: requests per pod: 0.24 CPU at ~120 µs each (deploy/bench/api-50k.sh).
	apiReqPerPod int
	// Ingest and worker: CPU per tick.
	ingestUSPerTick    float64 // parse + validate + append to the log
	ingestTicksPerPod  int     // HPA target
	persistUSPerTick   float64 // worker CPU per tick persisted (PostgreSQL)
	workerTicksPerPod  int     // one worker's persist + alert catch-up rate
	workerMaxPods      int     // the log's partitions (FINDASH_LOG_PARTITIONS): workers beyond it idle
	sqliteBytesPerTick float64 // disk per tick persisted, candles included
	pgBytesPerTick     float64 // same on PostgreSQL (one copy, no WAL)
	// The 1M-user shape of the playbook and the bytes a delivery costs.
	deliveryWireBytes float64 // one tick message on the wire (frame + TCP/IP)

	prices cloudPrices
}

// cloudPrices are on-demand list prices, USD per hour unless named
// otherwise (AWS us-east-1; docs/cost.md gives the date and the source).
type cloudPrices struct {
	node           string  // EC2 instance type the pods run on
	nodeVCPU       float64 // its vCPUs
	nodeGiB        float64 // its memory
	nodeHour       float64
	dbHour         float64 // RDS for PostgreSQL instance (primary or replica)
	cacheHour      float64 // ElastiCache Redis node
	controlHour    float64 // EKS cluster
	lbHour         float64 // a Network Load Balancer (hours only)
	storageGBMonth float64 // gp3 (RDS storage is priced alike)
	egressGB       float64 // data transfer out, past the first 150 TB of a month
}

// measured returns the table. Each figure names the benchmark that produced
// it in docs/cost.md; change both together (the test holds them to it).
func measured() capacity {
	return capacity{
		gatewayKiBPerConn:      7.1,
		gatewayUSPerDelivery:   47,
		gatewayBaseMiB:         45,
		gatewayConnsPerPod:     10_000,
		gatewayMaxPods:         100,
		gatewayCPURequestMilli: 500,
		apiReqPerPod:           2_000,
		ingestUSPerTick:        3.4,
		ingestTicksPerPod:      100_000,
		persistUSPerTick:       7.8,
		workerTicksPerPod:      36_714,
		workerMaxPods:          8,
		sqliteBytesPerTick:     56.71,
		pgBytesPerTick:         186.3,
		deliveryWireBytes:      168,
		prices: cloudPrices{
			node: "m7g.xlarge", nodeVCPU: 4, nodeGiB: 16, nodeHour: 0.1632,
			dbHour: 0.168, cacheHour: 0.158, controlHour: 0.10, lbHour: 0.0225,
			storageGBMonth: 0.08, egressGB: 0.05,
		},
	}
}

// hoursPerMonth is the 730 hours AWS prices a month at.
const hoursPerMonth = 730

// gatewayCores is the CPU that users connections need when each receives
// perUserPerS ticks a second.
func (c capacity) gatewayCores(users int, perUserPerS float64) float64 {
	return float64(users) * perUserPerS * c.gatewayUSPerDelivery / 1e6
}

// gatewayGiB is the memory users connections hold, over the pods' base.
func (c capacity) gatewayGiB(users int) float64 {
	return float64(users) * c.gatewayKiBPerConn / (1 << 20)
}

// tickCores is the ingest and worker CPU of ticksPerS.
func (c capacity) tickCores(ticksPerS int) float64 {
	return float64(ticksPerS) * (c.ingestUSPerTick + c.persistUSPerTick) / 1e6
}

// storageGBPerDay is the PostgreSQL disk a day of ticksPerS fills.
func (c capacity) storageGBPerDay(ticksPerS int) float64 {
	return float64(ticksPerS) * 86400 * c.pgBytesPerTick / 1e9
}

// monthlyCost prices a plan at the table's list prices: nodes for the
// pods' requests (CPU or memory, whichever binds, 90 % allocatable), a
// PostgreSQL primary and replica with storage for retentionDays of ticks,
// one Redis node, the cluster, one load balancer, and the egress of every
// delivery to users receiving perUserPerS ticks a second.
func (c capacity) monthlyCost(plan []planRole, users int, perUserPerS float64, ticksPerS, retentionDays int) costLines {
	var milli, mib float64
	for _, r := range plan {
		milli += float64(r.replicas * r.cpu)
		mib += float64(r.replicas * r.memMiB)
	}
	p := c.prices
	nodes := math.Ceil(max(milli/1000/(0.9*p.nodeVCPU), mib/1024/(0.9*p.nodeGiB), 3))
	storageGB := c.storageGBPerDay(ticksPerS) * float64(retentionDays)
	egressGB := float64(users) * perUserPerS * c.deliveryWireBytes * 86400 * 30.4 / 1e9
	return costLines{
		nodes:   nodes,
		compute: nodes * p.nodeHour * hoursPerMonth,
		db:      2*p.dbHour*hoursPerMonth + 2*storageGB*p.storageGBMonth,
		cache:   p.cacheHour * hoursPerMonth,
		cluster: (p.controlHour + p.lbHour) * hoursPerMonth,
		egress:  egressCost(egressGB, p.egressGB),
		storage: storageGB,
	}
}

// egressCost prices gb of data transfer out in a month by AWS's tiers: the
// first 10 TB at $0.09/GB, the next 40 TB at $0.085, the next 100 TB at
// $0.07, and the rest at top (the table's egress price, $0.05). Pricing all
// of it at the top tier understated the 1M-user bill by ~$3.8K a month.
func egressCost(gb, top float64) float64 {
	const tb = 1024
	tiers := []struct{ upTo, usd float64 }{{10 * tb, 0.09}, {50 * tb, 0.085}, {150 * tb, 0.07}}
	cost, from := 0.0, 0.0
	for _, t := range tiers {
		if gb <= from {
			return cost
		}
		cost += (min(gb, t.upTo) - from) * t.usd
		from = t.upTo
	}
	return cost + max(0, gb-from)*top
}

// costLines is a monthly bill, USD, by line.
type costLines struct {
	nodes                               float64
	compute, db, cache, cluster, egress float64
	storage                             float64 // GB of ticks kept (one copy)
}

func (l costLines) total() float64 { return l.compute + l.db + l.cache + l.cluster + l.egress }
