//go:build !unix

package main

import "time"

// usage is not measured on this platform.
func usage() (cpu time.Duration, peakRSS int64) { return 0, 0 }
