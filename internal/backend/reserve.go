package backend

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// The Go runtime maps heap memory in 4 MiB steps as the heap grows, never
// unmaps it, and places each allocation at the lowest free address that
// fits. reserveHeap therefore grows the heap once with large allocations
// that are dropped at once: the heap's mapped top then lies far above every
// buffer the backend allocates until the heap outgrows the reservation. The
// reservation costs address space, not RAM: memory fresh from the operating
// system, or returned to it (debug.FreeOSMemory), needs no zeroing, so its
// pages are never touched. The limits of this are in the package
// documentation.

var (
	reserveOnce sync.Once
	// reserved is by how much the reservation grew the heap, in bytes (0
	// before it is made, or when the limits left no room for one).
	reserved int
)

// Prepare makes the heap reservation the pure-Go backend needs (see the
// package documentation) if the backend configuration in force without an
// explicit one (see Config) is the pure-Go backend. New makes it anyway when
// it creates the first pure-Go backend; a program calls Prepare first thing
// in main so that the reservation is made while the heap is still small and
// nothing else runs. Only the first call does anything; it never fails.
func Prepare() {
	if name, _, _ := strings.Cut(Config(""), ":"); name == "go" {
		reserveHeap()
	}
}

// reserveHeap makes the heap reservation once per process.
func reserveHeap() {
	reserveOnce.Do(func() { reserved = growHeap(reserveSize(readLimits())) })
}

// heapStep is the Go runtime's heap growth step (a page allocator chunk).
const heapStep = 4 << 20

// growHeap raises the top of the heap's mapped memory, adding at most n
// bytes of address space, without touching RAM, and returns by how much it
// grew the heap.
//
// It takes two allocations. The collection the first one triggers may make
// the runtime place objects of its own (mark work buffers, stacks, a
// processor's page cache) in the free stretch above it, at the top of the
// heap, where a buffer could later end at the top. The second allocation is
// larger than every free stretch of the heap, so the runtime can only place
// it by growing the heap again, above those objects; the runtime's own
// allocations during its collection go to the lowest free addresses, far
// below the new top. Where the second would exceed n (much garbage freed by
// the first collection), only the first is made.
func growHeap(n int) int {
	debug.FreeOSMemory() // free pages returned to the system need no zeroing
	first := (n - heapFree()) / 3 / heapStep * heapStep
	if first <= 0 {
		return 0
	}
	allocAndDrop(first)
	second := (heapFree()/heapStep + 1) * heapStep
	if first+second > n {
		return first
	}
	allocAndDrop(second)
	return first + second
}

// allocAndDrop allocates n bytes and drops them; the collection that follows
// frees them (else the collector would count them as live heap, and let the
// heap grow to twice that before its next cycle) and returns their pages to
// the system.
func allocAndDrop(n int) {
	b := make([]byte, n)
	runtime.KeepAlive(b)
	debug.FreeOSMemory()
}

// heapFree returns the bytes of the heap's mapped memory not in use: an
// upper bound of its largest free stretch.
func heapFree() int {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	free := 0
	for _, v := range s {
		if v.Value.Kind() == metrics.KindUint64 {
			free += int(v.Value.Uint64())
		}
	}
	return free
}

// memLimits are the facts about the machine and the process that bound the
// size of the heap reservation.
type memLimits struct {
	// ram is the memory the process may use: the physical memory
	// (MemTotal), or the cgroup memory limit where that is smaller; 0 when
	// unknown.
	ram int
	// overcommit is vm.overcommit_memory: 0 heuristic, 1 always, 2 strict
	// (never), -1 unknown.
	overcommit int
	// commitHeadroom is CommitLimit - Committed_AS: what the kernel still
	// lets processes commit in strict mode; -1 when unknown.
	commitHeadroom int
	// vmHeadroom is the address space the process may still map under
	// RLIMIT_AS and RLIMIT_DATA; -1 when neither limit is set.
	vmHeadroom int
}

// reserveSize returns how much address space the heap reservation may add:
// half the memory, at most 16 GiB (1 GiB when the memory size is unknown),
// reduced so that mapping it cannot fail. (Its pages are not meant to be
// touched; bounding it by the memory bounds the damage if they were.) The Go
// runtime dies, without a panic to recover, when it cannot map memory it
// asked for, so every limit is taken into account beforehand, and only half
// of what a limit leaves is used:
//   - heuristic overcommit (mode 0) refuses a single mapping larger than
//     RAM plus swap; half the RAM is always below that;
//   - strict overcommit (mode 2) refuses to commit more than CommitLimit;
//     the reservation stays committed, so it takes half the headroom;
//   - RLIMIT_AS and RLIMIT_DATA bound the address space; the reservation
//     takes half of what the process has left.
//
// The result is a multiple of the runtime's heap growth step; 0 means no
// reservation.
func reserveSize(m memLimits) int {
	const gib = 1 << 30
	n := 1 * gib
	if m.ram > 0 {
		n = min(m.ram/2, 16*gib)
	}
	if strconv.IntSize == 32 {
		n = min(n, 256<<20)
	}
	if m.overcommit == 2 {
		n = min(n, m.commitHeadroom/2)
	}
	if m.vmHeadroom >= 0 {
		n = min(n, m.vmHeadroom/2)
	}
	return max(n/heapStep*heapStep, 0)
}

// readLimits reads the memory limits of the machine (Linux /proc) and of the
// process (resource limits). What cannot be read is reported as unknown; a
// resource limit whose current use is unknown leaves no headroom.
func readLimits() memLimits {
	m := memLimits{overcommit: -1, commitHeadroom: -1, vmHeadroom: -1}
	info := procFields("/proc/meminfo")
	m.ram = info["MemTotal"]
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path) // cgroup v2, v1; "max" or a huge number when unlimited
		if err != nil {
			continue
		}
		if limit, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && limit > 0 && (m.ram == 0 || limit < m.ram) {
			m.ram = limit
		}
	}
	if limit, ok := info["CommitLimit"]; ok {
		if committed, ok := info["Committed_AS"]; ok {
			m.commitHeadroom = max(limit-committed, 0)
		}
	}
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			m.overcommit = v
		}
	}
	if m.overcommit == 2 && m.commitHeadroom < 0 {
		m.commitHeadroom = 0
	}
	status := procFields("/proc/self/status")
	for _, l := range []struct {
		resource int
		use      string
	}{{syscall.RLIMIT_AS, "VmSize"}, {syscall.RLIMIT_DATA, "VmData"}} {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(l.resource, &rl); err != nil || rl.Cur >= 1<<62 {
			continue // unlimited (RLIM_INFINITY is all ones)
		}
		headroom := 0
		if used, ok := status[l.use]; ok {
			headroom = max(int(min(rl.Cur, math.MaxInt))-used, 0)
		}
		if m.vmHeadroom < 0 || headroom < m.vmHeadroom {
			m.vmHeadroom = headroom
		}
	}
	return m
}

// procFields reads a /proc file of "Name:  value kB" lines into a map of
// byte counts; it returns an empty map when the file cannot be read.
func procFields(path string) map[string]int {
	fields := map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		return fields
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v := strings.Fields(rest)
		if len(v) != 2 || v[1] != "kB" {
			continue
		}
		if kb, err := strconv.Atoi(v[0]); err == nil {
			fields[name] = kb << 10
		}
	}
	return fields
}
