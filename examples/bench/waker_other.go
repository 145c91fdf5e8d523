//go:build !linux

package main

import "time"

// sleepFor sleeps d on a timer. The runtime's timers are as precise as
// the system's poller: kqueue and the others take their timeouts in
// nanoseconds; only Linux's epoll_wait rounds them to milliseconds.
func sleepFor(d time.Duration) { time.Sleep(d) }
