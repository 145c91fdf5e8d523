//go:build linux

package main

import (
	"syscall"
	"time"
)

// sleepFor sleeps d in the kernel, to within the system's timer slack
// (50 µs by default), resuming after a signal.
func sleepFor(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
