//go:build unix

package procs

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time (user and system) of every thread of the
// process so far, to the nanosecond.
func processCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("process CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
