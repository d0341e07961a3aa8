package backend

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// The pure-Go backend's SIMD kernels finish rows whose length is not a
// multiple of the vector width with the standard library's
// simd/archsimd Load...Part functions, which (in Go 1.27's experimental
// package) load a whole vector and mask it afterwards. At the very end of a
// buffer that read goes up to 60 bytes past the last element. That is
// harmless while the next page is mapped, but when the buffer ends exactly at
// the top of the Go heap's mapped memory the read faults and the process
// dies ("unexpected fault address", seen in a broadcast bias add of a
// 24-channel MobileNetV2 layer during training).
//
// The Go runtime maps heap memory in 4 MiB steps as the heap grows and never
// unmaps it. reserveHeap therefore grows the heap once, at backend creation,
// by allocating and dropping a large slice that is never touched (fresh heap
// memory needs no zeroing, so it costs address space, not RAM): the heap's
// mapped top then lies far above every buffer the backend allocates, and the
// over-read of a buffer's last vector always lands in mapped memory.
var reserveOnce sync.Once

// heapReserveBytes is the heap growth made at start: half the physical
// memory, at most 16 GiB, at least 1 GiB.
func heapReserveBytes() int {
	const gib = 1 << 30
	total := memTotal()
	n := total / 2
	n = min(n, 16*gib)
	n = max(n, 1*gib)
	if strconv.IntSize == 32 {
		n = 256 << 20
	}
	return n
}

func reserveHeap() {
	reserveOnce.Do(func() { growHeap(heapReserveBytes()) })
}

// growHeap allocates n bytes and drops them: the heap's mapped memory grows
// by n, and stays mapped.
func growHeap(n int) {
	b := make([]byte, n)
	runtime.KeepAlive(b)
}

// memTotal returns the machine's physical memory in bytes (Linux
// /proc/meminfo), or 8 GiB when it cannot be read.
func memTotal() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 8 << 30
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.Atoi(fields[1])
			if err == nil {
				return kb << 10
			}
		}
	}
	return 8 << 30
}
