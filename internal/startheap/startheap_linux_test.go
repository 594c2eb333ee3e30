//go:build linux && (amd64 || arm64)

package startheap

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping of this process that holds addr, from
// /proc/self/smaps, and its AnonHugePages line.
func vmFlags(t *testing.T, addr uintptr) (flags []string, huge string) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if !in {
			continue
		}
		switch {
		case strings.HasPrefix(line, "AnonHugePages:"):
			huge = strings.TrimSpace(strings.TrimPrefix(line, "AnonHugePages:"))
		case strings.HasPrefix(line, "VmFlags:"):
			return fields[1:], huge
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping holds %#x", addr)
	return nil, ""
}

// skipUnlessMadviseMode skips where Start rightly advises nothing.
func skipUnlessMadviseMode(t *testing.T) {
	t.Helper()
	if !madviseMode() {
		mode, _ := os.ReadFile(modeFile)
		t.Skipf("transparent huge pages are not in madvise mode here (%s: %q): Start advises nothing", modeFile, strings.TrimSpace(string(mode)))
	}
}

func TestStartAdvisesTheHeapArena(t *testing.T) {
	skipUnlessMadviseMode(t)
	t.Setenv(EnvDisable, "")
	if !Start() {
		t.Fatal("Start advised nothing on a system in madvise mode")
	}
	flags, huge := vmFlags(t, uintptr(unsafe.Pointer(first)))
	if !slices.Contains(flags, "hg") {
		t.Fatalf("heap mapping flags %v: want hg (MADV_HUGEPAGE)", flags)
	}
	// The collapse is best effort (no free huge page, a kernel before 6.1): logged, not
	// asserted.
	t.Logf("heap mapping: flags %v, AnonHugePages %s", flags, huge)
}

func TestStartTurnedOffByTheEnvironment(t *testing.T) {
	t.Setenv(EnvDisable, "0")
	if Start() {
		t.Fatalf("Start advised the heap with %s=0", EnvDisable)
	}
}
