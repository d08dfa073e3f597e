package main

import "strings"

// sysmonSetting keeps the Go runtime's sysmon thread out of its deep sleep
// (decision 0085). With every P idle, sysmon parks until a goroutine next
// enters a system call, and then starts over from 20 µs naps: at 200 ticks/s
// findash went idle between ticks, so each tick woke sysmon into about 14
// nanosleeps, 27 of its context switches per tick in all, and those cost
// ~20 % of its CPU in a VM (docs/benchmarks/ws.md, "sysmon"). schedtrace > 0
// is the runtime's only switch that keeps sysmon from parking (proc.go,
// sysmon: "should not enter deep sleep if schedtrace is enabled"); it then
// backs off to one 10 ms nap at a time while nothing happens. The period is
// the largest the runtime takes (int32 ms, 24.8 days): the trace line it
// prints every period goes to stderr at most once per 24.8 days of host
// uptime (and once at start on a host up longer than that).
const sysmonSetting = "schedtrace=2147483647"

// sysmonEnv returns the environment `findash serve` is executed again with
// so that sysmonSetting takes effect (the runtime reads schedtrace once, at
// start, and no //go:debug directive or go.mod line sets it), or nil when
// no restart is needed: another command, or GODEBUG already names
// schedtrace (the operator's choice: GODEBUG=schedtrace=0 turns this off).
func sysmonEnv(args, env []string) []string {
	if len(args) == 0 || args[0] != "serve" {
		return nil
	}
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for f := range strings.SplitSeq(v, ",") {
			if strings.HasPrefix(f, "schedtrace=") {
				return nil
			}
		}
		if found { // a repeated name: getenv takes the first
			continue
		}
		found = true
		if v != "" {
			v += ","
		}
		out = append(out, "GODEBUG="+v+sysmonSetting)
	}
	if !found {
		out = append(out, "GODEBUG="+sysmonSetting)
	}
	return out
}
