//go:build unix

package loss

import (
	"syscall"
	"time"
)

// processCPUTime returns the user+system CPU time of the process so far, or
// -1 when unavailable.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
