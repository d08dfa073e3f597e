package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel converts to it
// whatever its own HZ), so CPU times read there have 10 ms resolution and a
// window needs a few seconds of load to be read to ±1 %.
const clockTicks = 100

// procCPU is one process's CPU time so far, from /proc/<pid>/stat.
type procCPU struct {
	UserS, SysS float64
	Threads     int
}

// readProcCPU reads the user and system CPU time of process pid.
func readProcCPU(pid int) (procCPU, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procCPU{}, fmt.Errorf("server cpu: %w", err)
	}
	return parseProcStat(b)
}

// parseProcStat parses /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parseProcStat(b []byte) (procCPU, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procCPU{}, fmt.Errorf("server cpu: /proc stat without a command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15, num_threads 20.
	if len(f) < 18 {
		return procCPU{}, fmt.Errorf("server cpu: /proc stat has %d fields after the name", len(f))
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	th, err3 := strconv.Atoi(string(f[17]))
	if err1 != nil || err2 != nil || err3 != nil {
		return procCPU{}, fmt.Errorf("server cpu: /proc stat: bad utime, stime or num_threads")
	}
	return procCPU{UserS: float64(ut) / clockTicks, SysS: float64(st) / clockTicks, Threads: th}, nil
}
