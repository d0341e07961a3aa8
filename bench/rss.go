package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// PeakRSS returns the peak resident set size of this process in bytes:
// VmHWM from /proc/self/status, else getrusage's maxrss; 0 when neither is
// available.
func PeakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		if v, ok := parseVmHWM(b); ok {
			return v
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil && ru.Maxrss > 0 {
		return ru.Maxrss * 1024 // kilobytes on Linux
	}
	return 0
}

// parseVmHWM reads the VmHWM line ("VmHWM:   123456 kB") of a
// /proc/PID/status text.
func parseVmHWM(status []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 {
			return 0, false
		}
		return v * 1024, true
	}
	return 0, false
}

// ResetPeakRSS returns freed Go memory to the system and resets the peak
// resident set size to the current one (writing 5 to
// /proc/self/clear_refs, Linux 4.0 and later). It reports whether the reset
// worked; where it does not, PeakRSS keeps counting from the process start.
func ResetPeakRSS() bool {
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
