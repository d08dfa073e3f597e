//go:build linux

package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcess sets the CPU affinity of every thread of process pid to cpus
// and returns the number of CPUs it may now run on. sched_setaffinity
// applies to one thread, and a Go process has several, so each thread in
// /proc/<pid>/task is set; a thread created meanwhile inherits the mask of
// the thread that made it, which may not have been set yet, so the list is
// read again until a pass finds no thread it had not set (taskset -a does
// one pass).
func pinProcess(pid int, cpus []int) (int, error) {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	done := make(map[int]bool)
	for range 10 {
		tids, err := processThreads(pid)
		if err != nil {
			return 0, fmt.Errorf("pin process %d: %w", pid, err)
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return 0, fmt.Errorf("pin process %d to CPUs %v: %w", pid, cpus, err)
			}
			done[tid], fresh = true, fresh+1
		}
		if fresh == 0 {
			return set.Count(), nil
		}
	}
	return 0, fmt.Errorf("pin process %d: its threads kept changing", pid)
}

// processThreads lists the thread ids of process pid.
func processThreads(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}

// processCPUs returns the CPUs process pid's main thread may run on.
func processCPUs(pid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return nil, fmt.Errorf("CPU affinity of process %d: %w", pid, err)
	}
	var out []int
	for c := range 1024 { // what a CPUSet holds
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out, nil
}
