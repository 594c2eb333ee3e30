//go:build linux && (amd64 || arm64)

package startheap

import (
	"syscall"
	"unsafe"
)

const (
	// arenaBytes is the Go runtime's heap arena size on 64-bit Linux (heapArenaBytes): the
	// runtime reserves its heap in aligned arenas of this size.
	arenaBytes = 64 << 20
	// pageSize and hugePage are the base and transparent huge page sizes this package
	// works with; on a kernel with other base pages (arm64 may have 16 or 64 KiB) it does
	// nothing.
	pageSize = 4 << 10
	hugePage = 2 << 20

	madvHugepage = 14 // MADV_HUGEPAGE
	madvCollapse = 25 // MADV_COLLAPSE, Linux 6.1
)

// modeFile holds the system's setting, such as "always [madvise] never".
const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

var (
	// first is an object of the heap, allocated by Start: the arena that holds it is the
	// one the process started in.
	first *[64]byte
	// resident is mincore's answer for the arena, a byte per page: in the binary's zeroed
	// data rather than on the heap, where it would take a span of its own.
	resident [arenaBytes / pageSize]byte
)

// Start advises the arena the heap started in, and collapses what it has touched so far,
// unless the system, the architecture or the environment says otherwise (see the package
// comment). It reports whether it advised the arena. Call it once, early, from a process that
// exits within moments; it is not safe for concurrent use.
func Start() bool {
	if v, _ := syscall.Getenv(EnvDisable); v == "0" || syscall.Getpagesize() != pageSize || !madviseMode() {
		return false
	}
	first = new([64]byte)
	base := uintptr(unsafe.Pointer(first)) &^ (arenaBytes - 1)
	if madvise(base, arenaBytes, madvHugepage) != nil {
		return false
	}
	collapseTouched(base)
	return true
}

// collapseTouched turns each 2 MiB of the arena that already has pages into one huge page,
// so that the next allocations there fault no more: the heap starts at a random page and may
// straddle two of them by now. Best effort: MADV_COLLAPSE fails on kernels before 6.1 or when
// no huge page is free, and the advice still serves the rest of the mapped chunk.
func collapseTouched(base uintptr) {
	if _, _, errno := syscall.Syscall(syscall.SYS_MINCORE, base, arenaBytes, uintptr(unsafe.Pointer(&resident[0]))); errno != 0 {
		return
	}
	const perHuge = hugePage / pageSize
	for i := 0; i < len(resident); i += perHuge {
		for _, b := range resident[i : i+perHuge] {
			if b&1 != 0 {
				_ = madvise(base+uintptr(i)*pageSize, hugePage, madvCollapse)
				break
			}
		}
	}
}

// madviseMode reports whether the system gives huge pages only to memory advised to take them.
func madviseMode() bool {
	fd, err := syscall.Open(modeFile, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	var buf [128]byte
	n, err := syscall.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return false
	}
	return contains(buf[:n], "[madvise]")
}

// contains is strings.Contains without importing strings, whose initialization would come
// before the caller's and put it later among the process's inits.
func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

func madvise(addr, length uintptr, advice int) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, length, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}
