//go:build !unix

package procs

import (
	"errors"
	"time"
)

// processCPU is not implemented here: the controller stays off.
func processCPU() (time.Duration, error) {
	return 0, errors.New("no process CPU clock on this system")
}
