//go:build !unix

package main

import "time"

// sleepFor sleeps d on a timer: where nanosleep is not at hand, the waker
// is as precise as the runtime's timers.
func sleepFor(d time.Duration) { time.Sleep(d) }
