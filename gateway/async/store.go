// Package async is the gateway's asynchronous request-reply (docs/async.md): an HTTP call with
// `Prefer: respond-async` (or to an `async: always` route) is answered 202 at once, its
// invocation travels through the queue backend with a correlation ID, and its reply is kept
// in a Store for the reply TTL, fetched with GET /requests/{id} and pushed on the WebSocket
// topic requests.{id}.
package async

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) for a request the store does not hold: unknown, or
// expired.
var ErrNotFound = errors.New("async request not found")

// State is where a request is.
type State string

const (
	Pending State = "pending"
	Done    State = "done"
)

// Record is an async request as the store keeps it.
type Record struct {
	// ID is the correlation ID: 128 random bits in hex.
	ID string `json:"id"`
	// Function is the function that runs it.
	Function string `json:"function"`
	// Owner is the `sub` of the caller's JWT, or "" when the call carried none: then the
	// unguessable ID is the capability.
	Owner string `json:"owner,omitempty"`
	// State is Pending until the reply is stored.
	State State `json:"state"`
	// Status, Headers and Body are the reply (the function's result, or the error a
	// synchronous caller would have got); set when State is Done.
	Status  int               `json:"status,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
	// Created and Completed are when the request was accepted and answered.
	Created   time.Time `json:"created"`
	Completed time.Time `json:"completed,omitzero"`
}

// Store keeps async requests for a TTL: the embedded one in process, or Redis, shared by
// every node. Every record and idempotency key expires TTL after it was last written, so
// nothing grows without bound. Methods are safe for concurrent use.
//
// Guarantees, which the conformance suite (store_test.go) checks for both stores:
//   - Create with an idempotency key stores the record only when the key is new for that
//     caller; otherwise it stores nothing and returns the ID the key already points to.
//   - Complete turns a pending record into a done one once: completing a done record again
//     changes nothing and returns ErrAlreadyDone (a redelivered invocation ran twice);
//     completing an unknown or expired one returns ErrNotFound.
//   - Get returns what was stored until the TTL passes, then ErrNotFound.
type Store interface {
	// Create stores rec (pending) for ttl. When key is not empty, it is an idempotency key of
	// the caller: if the same caller used the same key within ttl, Create stores nothing and
	// returns the earlier request's ID with created false.
	Create(ctx context.Context, rec *Record, caller, key string, ttl time.Duration) (id string, created bool, err error)
	// Get returns the record of id.
	Get(ctx context.Context, id string) (*Record, error)
	// Complete stores the reply of id and keeps the record for ttl from now.
	Complete(ctx context.Context, id string, status int, headers map[string]string, body []byte, ttl time.Duration) error
	// Pending counts the pending requests (for the metric); stores may count approximately
	// (expired entries are dropped lazily).
	Pending(ctx context.Context) (int64, error)
}

// ErrAlreadyDone is returned (wrapped) by Complete for a request that has its reply.
var ErrAlreadyDone = errors.New("async request already answered")
