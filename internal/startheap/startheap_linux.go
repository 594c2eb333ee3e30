//go:build linux && (amd64 || arm64)

package startheap

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	// arenaBytes is the Go runtime's heap arena size on 64-bit Linux (heapArenaBytes): the
	// runtime maps the heap in aligned arenas of this size, readable and writable as a whole.
	arenaBytes = 64 << 20
	// pageSize and hugePage are the base and transparent huge page sizes this package
	// works with; on a kernel with other base pages (arm64 may have 16 or 64 KiB) it does
	// nothing.
	pageSize = 4 << 10
	hugePage = 2 << 20

	madvHugepage   = 14 // MADV_HUGEPAGE
	madvNoHugepage = 15 // MADV_NOHUGEPAGE
	madvCollapse   = 25 // MADV_COLLAPSE, Linux 6.1
)

// modeFile holds the system's setting, such as "always [madvise] never".
const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

var (
	// first is an object of the heap, allocated by init: the arena that holds it is the
	// one the process starts in.
	first *[64]byte
	// advised is the base of the arena advised MADV_HUGEPAGE, until Done; 0 when none is.
	advised atomic.Uintptr
)

func init() {
	if v, _ := syscall.Getenv(EnvDisable); v == "0" || syscall.Getpagesize() != pageSize || !madviseMode() {
		return
	}
	first = new([64]byte)
	addr := uintptr(unsafe.Pointer(first))
	base := addr &^ (arenaBytes - 1)
	if madvise(base, arenaBytes, madvHugepage) != nil {
		return
	}
	advised.Store(base)
	collapseTouched(base)
}

// resident is mincore's answer for the arena, a byte per page: in the binary's zeroed data
// rather than on the heap, which would take a span of its own.
var resident [arenaBytes / pageSize]byte

// collapseTouched turns each 2 MiB of the arena that already has pages into one huge page,
// so that the next allocations there fault no more: the heap starts anywhere in its arena and
// may straddle two of them by now. Best effort: MADV_COLLAPSE fails on kernels before 6.1 or
// when no huge page is free, and the advice still serves the rest of the arena.
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

// Done withdraws the advice, for a process that has started and runs on. Under the
// "madvise" setting, MADV_NOHUGEPAGE is the default behaviour: no huge page at fault, none
// assembled in the background. Done is safe to call more than once, from any goroutine.
func Done() {
	if base := advised.Swap(0); base != 0 {
		_ = madvise(base, arenaBytes, madvNoHugepage)
	}
}

// Advising reports whether the advice of init is in place: not withdrawn by Done, nor turned
// off.
func Advising() bool { return advised.Load() != 0 }

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
// first and put this package's init later among the process's.
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
