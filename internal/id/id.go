// Package id makes the identifiers edgefn hands out: request, message and correlation IDs.
package id

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns 128 random bits in hex: unguessable, so an ID can serve as a capability (an
// async request's ID is one).
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
