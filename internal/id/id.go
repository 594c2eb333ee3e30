// Package id makes the identifiers edgefn hands out: request, message and correlation IDs.
package id

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
)

// New returns 128 random bits in hex: unguessable, so an ID can serve as a capability (an
// async request's ID is one).
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Unique returns 128 random bits in hex from the runtime's per-thread ChaCha8 generator:
// unique like New, and several times cheaper, but not meant to be unguessable. For request
// IDs, which only name a request in logs and traces.
func Unique() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], mrand.Uint64())
	return hex.EncodeToString(b[:])
}
