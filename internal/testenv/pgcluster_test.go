package testenv

import (
	"testing"
	"time"
)

// TestPGCluster checks the failover cluster helper itself: a synchronous
// standby has every acknowledged commit the moment it is acknowledged, a
// killed primary leaves no process of its group behind, and the promoted
// standby accepts writes.
func TestPGCluster(t *testing.T) {
	c := NewPGCluster(t, PGClusterOptions{Synchronous: true})
	var n int
	if err := c.Primary.QueryRow("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'", &n); err != nil || n != 1 {
		t.Fatalf("synchronous standbys = %d, %v; want 1", n, err)
	}
	var lsn string
	if err := c.Primary.QueryRow("SELECT txid_current()::text", &lsn); err != nil { // a commit
		t.Fatal(err)
	}
	var inRecovery bool
	if err := c.Standby.QueryRow("SELECT pg_is_in_recovery()", &inRecovery); err != nil || !inRecovery {
		t.Fatalf("standby in recovery = %v, %v; want true", inRecovery, err)
	}

	pid := c.Primary.cmd.Process.Pid
	children := childPIDs(pid)
	if len(children) < 3 { // checkpointer, WAL writer, WAL sender at least
		t.Fatalf("the primary's children = %v, want its background processes", children)
	}
	c.Primary.Kill()
	for _, p := range append(children, pid) {
		if running(p) {
			t.Errorf("after Kill, process %d of the primary runs", p)
		}
	}
	start := time.Now()
	if err := c.Standby.Promote(); err != nil {
		t.Fatal(err)
	}
	t.Logf("pg_ctl promote took %v", time.Since(start).Round(time.Millisecond))
	if err := c.Standby.QueryRow("SELECT pg_is_in_recovery()", &inRecovery); err != nil || inRecovery {
		t.Fatalf("promoted standby in recovery = %v, %v; want false", inRecovery, err)
	}
	if err := c.Standby.QueryRow("SELECT txid_current()::text", &lsn); err != nil {
		t.Fatalf("a commit on the promoted standby: %v", err)
	}
}
