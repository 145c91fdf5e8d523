//go:build unix

package main

import (
	"syscall"
	"time"
)

// sleepFor sleeps d in the kernel, to within the system's timer slack
// (50 µs by default on Linux). It is not cut short by an earlier instant
// queued meanwhile: with one latency, instants are queued in order, and
// one is queued first only when the queue was empty.
func sleepFor(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
