// Package testkit holds the small helpers that the tests of several packages share: a context
// bounded by a deadline, waiting for a condition with a deadline instead of sleeping, and a
// buffer that a process may write while a test reads it.
package testkit

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// Context returns a context that ends after d or when the test's cleanups run, whichever comes
// first. Cleanups registered after it (closing a consumer, purging a queue) may still use it:
// it is not t.Context(), which ends before any cleanup runs.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// PollEvery is how often Eventually checks its condition.
const PollEvery = 10 * time.Millisecond

// Eventually checks cond every PollEvery until it holds, and fails the test (what names the
// condition) when d passes first.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(PollEvery)
	}
}

// SyncBuffer is a bytes.Buffer that one goroutine (a process's output, a logger) may write
// while another reads it. The zero value is ready to use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
