//go:build !linux

package bench

import "errors"

var errNoPin = errors.New("pinning to CPUs needs Linux (sched_setaffinity)")

func pinProcess(int, []int) (int, error) { return 0, errNoPin }

func processCPUs(int) ([]int, error) { return nil, errNoPin }
