//go:build linux && (amd64 || arm64)

package startheap

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
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

func has(flags []string, flag string) bool {
	for _, f := range flags {
		if f == flag {
			return true
		}
	}
	return false
}

// initAdvised is the arena init advised, read before any test runs Done.
var initAdvised uintptr

func TestMain(m *testing.M) {
	initAdvised = advised.Load()
	os.Exit(m.Run())
}

// skipUnlessAdvising skips where init rightly advised nothing, and fails where it should have.
func skipUnlessAdvising(t *testing.T) {
	t.Helper()
	if v, _ := os.LookupEnv(EnvDisable); v == "0" {
		t.Skipf("%s=0 in this environment", EnvDisable)
	}
	if !madviseMode() {
		mode, _ := os.ReadFile(modeFile)
		t.Skipf("transparent huge pages are not in madvise mode here (%s: %q): init advises nothing", modeFile, strings.TrimSpace(string(mode)))
	}
	if initAdvised == 0 {
		t.Fatal("the system is in madvise mode but init advised no arena")
	}
}

func TestStartAdvisesTheFirstArenaAndDoneWithdrawsIt(t *testing.T) {
	skipUnlessAdvising(t)
	addr := uintptr(unsafe.Pointer(first))
	if base := advised.Load(); addr < base || addr >= base+arenaBytes {
		t.Fatalf("advised arena %#x does not hold the first object %#x", base, addr)
	}
	flags, huge := vmFlags(t, addr)
	if !has(flags, "hg") {
		t.Fatalf("heap mapping flags %v: want hg (MADV_HUGEPAGE)", flags)
	}
	t.Logf("heap mapping: flags %v, AnonHugePages %s", flags, huge)

	Done()
	flags, _ = vmFlags(t, addr)
	if has(flags, "hg") || !has(flags, "nh") {
		t.Fatalf("after Done, heap mapping flags %v: want nh (MADV_NOHUGEPAGE) and no hg", flags)
	}
	if advised.Load() != 0 {
		t.Fatal("Done left the arena recorded as advised")
	}
	Done() // a second call does nothing
}

// TestDisabledByEnvironment runs this test binary again with the advice turned off, and has
// the child report what its init did.
func TestDisabledByEnvironment(t *testing.T) {
	if os.Getenv("STARTHEAP_CHILD") == "1" {
		fmt.Printf("advised=%d\n", initAdvised)
		return
	}
	skipUnlessAdvising(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDisabledByEnvironment$")
	cmd.Env = append(os.Environ(), "STARTHEAP_CHILD=1", EnvDisable+"=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "advised=0\n") {
		t.Fatalf("with %s=0 the child advised an arena:\n%s", EnvDisable, out)
	}
}
