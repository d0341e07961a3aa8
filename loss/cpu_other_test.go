//go:build !unix

package loss

import "time"

// processCPUTime is not available on this platform.
func processCPUTime() time.Duration { return -1 }
