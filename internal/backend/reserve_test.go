package backend

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gomlx/compute/support"
)

// childEnv makes the test binary act as a fresh process that makes the heap
// reservation ("reserve") or not ("none"), allocates buffers and prints a
// childReport: the child side of TestHeapReservation. A fresh process is
// needed because the reservation only behaves as designed (no RAM touched,
// heap top raised) in a process whose heap is still small.
const childEnv = "GHMDET_BACKEND_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		rep, err := runChild(mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		_ = json.NewEncoder(os.Stdout).Encode(rep)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// overRead is how far past a buffer's end the SIMD kernels may read (60
// bytes, rounded up).
const overRead = 64

// fixedSizes are buffer sizes the child allocates after a random mix:
// sizes the backend's pools produce (powers of two and 1.5 times powers of
// two), including page multiples and multiples of the runtime's 4 MiB heap
// growth step, up to large buffers.
var fixedSizes = []int{64, 4 << 10, 12 << 10, 1 << 20, 4 << 20, 6 << 20, 8 << 20, 12 << 20, 16 << 20, 64 << 20, 96 << 20, 128 << 20, 256 << 20}

// childAllocs is how many buffers the child allocates: a random mix of
// pool-sized buffers up to 16 MiB (which without the reservation places
// some buffers at the heap's mapped top), then fixedSizes.
const childAllocs = 400 + 13

// childSizes returns the sizes of the buffers the child allocates, the same
// in every run, and whether each is kept alive.
func childSizes() (sizes []int, keep []bool) {
	r := rand.New(rand.NewPCG(1, 2))
	for len(sizes) < childAllocs-len(fixedSizes) {
		sizes = append(sizes, support.TwoBitBucketLen(1+r.IntN(1<<(10+r.IntN(15)))))
		keep = append(keep, r.IntN(3) > 0)
	}
	for _, n := range fixedSizes {
		sizes = append(sizes, n)
		keep = append(keep, true)
	}
	return sizes, keep
}

// childReport is what the child process prints.
type childReport struct {
	Reserved  int           // bytes reserved
	Took      time.Duration // time the reservation took
	RSSGrowth int           // resident memory growth across the reservation
	Ends      []bufferEnd   // one per buffer allocated
}

// bufferEnd tells whether the overRead bytes past a buffer's end lay in
// readable memory right after the buffer was allocated.
type bufferEnd struct {
	Size     int
	End      uintptr
	Readable bool
}

func runChild(mode string) (childReport, error) {
	var rep childReport
	before, err := residentBytes()
	if err != nil {
		return rep, err
	}
	if mode == "reserve" {
		start := time.Now()
		reserveHeap()
		rep.Took = time.Since(start)
		rep.Reserved = reserved
	}
	after, err := residentBytes()
	if err != nil {
		return rep, err
	}
	rep.RSSGrowth = after - before
	sizes, keep := childSizes()
	var live [][]byte
	for i, n := range sizes {
		b := make([]byte, n)
		if keep[i] {
			live = append(live, b)
		}
		maps, err := readMaps("/proc/self/maps")
		if err != nil {
			return rep, err
		}
		end := uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(len(b))
		rep.Ends = append(rep.Ends, bufferEnd{n, end, readable(maps, end, overRead)})
	}
	runtime.KeepAlive(live)
	return rep, nil
}

// runChildProcess runs the test binary as a child in the given mode and
// returns its report.
func runChildProcess(t *testing.T, mode string) childReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %q: %v\n%s", mode, err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("child %q output: %v\n%s", mode, err, out)
	}
	if len(rep.Ends) != childAllocs {
		t.Fatalf("child %q reported %d buffers, want %d", mode, len(rep.Ends), childAllocs)
	}
	return rep
}

// TestHeapReservation runs the reservation in a fresh process and checks
// that it costs no resident memory and that afterwards the bytes the SIMD
// kernels may read past the end of freshly allocated buffers are mapped and
// readable.
func TestHeapReservation(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skipf("needs /proc/self/maps to see the process's mappings: %v", err)
	}
	rep := runChildProcess(t, "reserve")
	t.Logf("reserved %d MiB in %v, resident memory grew by %d KiB", rep.Reserved>>20, rep.Took, rep.RSSGrowth>>10)
	if rep.Reserved < 1<<30 {
		// Sized down by the limits of this machine or process: the check
		// below still holds while the buffers fit under the reservation.
		t.Logf("reservation reduced by this machine's limits: %+v", readLimits())
	}
	if rep.RSSGrowth > 64<<20 {
		t.Errorf("reserving %d bytes grew resident memory by %d bytes", rep.Reserved, rep.RSSGrowth)
	}
	if rep.Reserved == 0 {
		t.Skipf("this machine's limits leave no room for a reservation: %+v", readLimits())
	}
	total := 0
	for _, e := range rep.Ends {
		total += e.Size
		if !e.Readable && total <= rep.Reserved {
			t.Errorf("%d-byte buffer ending at %#x: the %d bytes past its end are not readable", e.Size, e.End, overRead)
		}
	}
	// Without the reservation, some buffers end at the heap's mapped top.
	// Where depends on the runtime's allocator and on garbage collection
	// timing, so it is only reported.
	unreadable := 0
	for _, e := range runChildProcess(t, "none").Ends {
		if !e.Readable {
			unreadable++
		}
	}
	t.Logf("without the reservation, %d of %d buffers ended at the top of the mapped heap", unreadable, childAllocs)
}

// residentBytes returns the process's resident memory (/proc/self/statm).
func residentBytes() (int, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("resident memory: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("resident memory: /proc/self/statm is %q", b)
	}
	pages, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, fmt.Errorf("resident memory: %w", err)
	}
	return pages * os.Getpagesize(), nil
}

// mapping is one line of /proc/PID/maps: an address range and whether it
// can be read.
type mapping struct {
	start, end uintptr
	read       bool
}

// readMaps parses a /proc/PID/maps file; its lines are sorted by address.
func readMaps(path string) ([]mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mappings: %w", err)
	}
	defer f.Close()
	var maps []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, err := parseMapping(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mappings: %s: %w", path, err)
		}
		maps = append(maps, m)
	}
	return maps, sc.Err()
}

// parseMapping parses a /proc/PID/maps line such as
// "7f00a000-7f00b000 r--p 00000000 00:00 0".
func parseMapping(line string) (mapping, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return mapping{}, fmt.Errorf("line %q", line)
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if !ok || err1 != nil || err2 != nil {
		return mapping{}, fmt.Errorf("address range in %q", line)
	}
	return mapping{uintptr(start), uintptr(end), strings.HasPrefix(f[1], "r")}, nil
}

// readable reports whether the n bytes from addr lie in readable mappings
// without a gap.
func readable(maps []mapping, addr, n uintptr) bool {
	for _, m := range maps {
		if addr < m.start || addr >= m.end {
			continue
		}
		if !m.read {
			return false
		}
		if addr+n <= m.end {
			return true
		}
		n -= m.end - addr
		addr = m.end
	}
	return false
}

func TestReadable(t *testing.T) {
	maps := []mapping{
		{0x1000, 0x3000, true},
		{0x3000, 0x4000, true},  // adjacent to the first
		{0x4000, 0x5000, false}, // reserved, not readable
		{0x6000, 0x7000, true},  // after a gap
	}
	tests := []struct {
		addr, n uintptr
		want    bool
	}{
		{0x1000, 64, true},
		{0x2fe0, 64, true},  // across two adjacent readable mappings
		{0x3fc0, 64, true},  // ends exactly at the end of readable memory
		{0x3fc1, 64, false}, // one byte into the unreadable mapping
		{0x3fe0, 64, false},
		{0x4000, 1, false},
		{0x5000, 1, false}, // in the gap
		{0x6fc0, 64, true},
		{0x6fe0, 64, false}, // past the last mapping
		{0x800, 64, false},  // before the first
	}
	for _, tc := range tests {
		if got := readable(maps, tc.addr, tc.n); got != tc.want {
			t.Errorf("readable(%#x, %d) = %v, want %v", tc.addr, tc.n, got, tc.want)
		}
	}
	m, err := parseMapping("7f00a000-7f00b000 ---p 00000000 00:00 0")
	if err != nil || m != (mapping{0x7f00a000, 0x7f00b000, false}) {
		t.Errorf("parseMapping = %+v, %v", m, err)
	}
	if _, err := parseMapping("7f00a000 r--p"); err == nil {
		t.Error("parseMapping accepted a line without an address range")
	}
}

// TestReadableSeesProtection checks the mapping reader against the kernel:
// in two pages whose second is made inaccessible, the end of the first is
// readable and the bytes past it are not.
func TestReadableSeesProtection(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skipf("needs /proc/self/maps: %v", err)
	}
	page := os.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	maps, err := readMaps("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	base := uintptr(unsafe.Pointer(&mem[0]))
	if !readable(maps, base+uintptr(page)-overRead, overRead) {
		t.Error("the last bytes of the accessible page read as unreadable")
	}
	if readable(maps, base+uintptr(page)-overRead/2, overRead) {
		t.Error("bytes in the inaccessible page read as readable")
	}
}

func TestReserveSize(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	unlimited := -1
	tests := []struct {
		name string
		m    memLimits
		want int
	}{
		{"half the RAM", memLimits{ram: 8 * gib, overcommit: 0, commitHeadroom: 10 * gib, vmHeadroom: unlimited}, 4 * gib},
		{"at most 16 GiB", memLimits{ram: 256 * gib, overcommit: 1, commitHeadroom: 300 * gib, vmHeadroom: unlimited}, 16 * gib},
		{"RAM unknown", memLimits{ram: 0, overcommit: -1, commitHeadroom: -1, vmHeadroom: unlimited}, 1 * gib},
		{"whole heap steps", memLimits{ram: 1*gib + 6*mib, overcommit: 0, commitHeadroom: -1, vmHeadroom: unlimited}, 512 * mib},
		{"heuristic overcommit ignores the commit headroom", memLimits{ram: 8 * gib, overcommit: 0, commitHeadroom: 0, vmHeadroom: unlimited}, 4 * gib},
		{"strict overcommit: half the headroom", memLimits{ram: 64 * gib, overcommit: 2, commitHeadroom: 6 * gib, vmHeadroom: unlimited}, 3 * gib},
		{"strict overcommit, no headroom", memLimits{ram: 64 * gib, overcommit: 2, commitHeadroom: 0, vmHeadroom: unlimited}, 0},
		{"strict overcommit, headroom below a step", memLimits{ram: 64 * gib, overcommit: 2, commitHeadroom: 6 * mib, vmHeadroom: unlimited}, 0},
		{"address space limit: half the headroom", memLimits{ram: 64 * gib, overcommit: 0, commitHeadroom: -1, vmHeadroom: 2 * gib}, 1 * gib},
		{"address space exhausted", memLimits{ram: 64 * gib, overcommit: 1, commitHeadroom: -1, vmHeadroom: 0}, 0},
		{"tightest limit wins", memLimits{ram: 64 * gib, overcommit: 2, commitHeadroom: 8 * gib, vmHeadroom: 4 * gib}, 2 * gib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := reserveSize(tc.m); got != tc.want {
				t.Errorf("reserveSize(%+v) = %d MiB, want %d MiB", tc.m, got/mib, tc.want/mib)
			}
		})
	}
}

func TestProcFields(t *testing.T) {
	path := t.TempDir() + "/meminfo"
	text := "MemTotal:       24576000 kB\nCommitLimit:    12288000 kB\nHugePages_Total:       0\nbogus line\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got := procFields(path)
	want := map[string]int{"MemTotal": 24576000 << 10, "CommitLimit": 12288000 << 10}
	if len(got) != len(want) || got["MemTotal"] != want["MemTotal"] || got["CommitLimit"] != want["CommitLimit"] {
		t.Errorf("procFields = %v, want %v", got, want)
	}
	if got := procFields(t.TempDir() + "/missing"); len(got) != 0 {
		t.Errorf("procFields of a missing file = %v, want empty", got)
	}
}
