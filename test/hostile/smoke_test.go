package hostile_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestHarnessSmoke checks the harness itself: a server starts, takes ticks
// with the created key, serves them back and exposes its metrics.
func TestHarnessSmoke(t *testing.T) {
	s := startServer(t, options{user: "smoke@example.com"})
	now := time.Now().UnixMilli()
	code, body := s.PostTicks(fmt.Sprintf(`{"symbol":"SMK-USD","price":10.5,"size":2,"ts":%d}`+"\n", now))
	if code != 202 {
		t.Fatalf("POST ticks: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body = s.Get("/api/v1/quotes?symbols=SMK-USD")
		if code == 200 && strings.Contains(body, "10.5") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quote not served: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond) // polling another process
	}
	if rss := s.RSS(); rss < 1<<20 {
		t.Fatalf("RSS %d bytes: not a process", rss)
	}
	if v := s.Metric("go_goroutines"); v <= 0 {
		t.Fatalf("go_goroutines = %v", v)
	}
}
