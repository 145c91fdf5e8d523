//go:build unix && !darwin

package main

import (
	"syscall"
	"time"
)

// usage returns the CPU time the process has used and its peak resident
// set size in bytes.
func usage() (cpu time.Duration, peakRSS int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss * 1024 // kilobytes on Linux
}
